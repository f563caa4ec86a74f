"""The pandas way to copy a table: read_sql -> to_sql, 10k rows a chunk, as a
hand-written export script would (bench/external.ts runs it).

usage: pandas-copy.py SOURCE_URL SOURCE_TABLE TARGET_URL TARGET_TABLE
"""
import sys

import pandas as pd
import sqlalchemy as sa

CHUNK_ROWS = 10_000

source_url, source_table, target_url, target_table = sys.argv[1:5]
source = sa.create_engine(source_url)
target = sa.create_engine(target_url)
with source.connect() as conn:
    for chunk in pd.read_sql(f"SELECT id, education, num, amount, created FROM {source_table}", conn, chunksize=CHUNK_ROWS):
        chunk.to_sql(target_table, target, if_exists="append", index=False, chunksize=CHUNK_ROWS)
