const fs=require("fs");const f=fs.readdirSync("/tmp/prof")[0];const p=JSON.parse(fs.readFileSync("/tmp/prof/"+f));
const self=new Map();const byId=new Map(p.nodes.map(n=>[n.id,n]));
const dt=p.timeDeltas;let tot=0;
p.samples.forEach((s,i)=>{const n=byId.get(s);const k=n.callFrame.functionName+" "+n.callFrame.url.split("/").slice(-2).join("/")+":"+n.callFrame.lineNumber;self.set(k,(self.get(k)||0)+dt[i]);tot+=dt[i]});
[...self.entries()].sort((a,b)=>b[1]-a[1]).slice(0,+process.argv[2]||25).forEach(([k,v])=>console.log((v/1000).toFixed(0).padStart(6),"ms",k));console.log("total",tot/1000)
