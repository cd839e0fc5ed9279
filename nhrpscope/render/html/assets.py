"""The page's own style and script, inlined: the report opens offline, so
nothing is fetched (no font, no stylesheet, no script by URL)."""

CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1b1f24;background:#fafbfc}
header{background:#1f3a5f;color:#fff;padding:12px 24px}
header h1{margin:0;font-size:20px}
nav a{color:#cfe0ff;margin-right:14px;font-size:13px}
main{padding:8px 24px 40px}
section{margin:18px 0 26px}
h2{font-size:17px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef1f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.sev-error{color:#fff;background:#c62828;border-radius:3px;padding:0 5px}
.sev-warning{color:#000;background:#f9c74f;border-radius:3px;padding:0 5px}
.sev-info{color:#fff;background:#3a7bd5;border-radius:3px;padding:0 5px}
.muted{color:#57606a}
pre{background:#fff;border:1px solid #d0d7de;padding:8px;overflow:auto;font-size:12px}
.scroll{overflow:auto;max-height:640px;border:1px solid #d0d7de;background:#fff}
svg text{font:11px monospace}
g.msg text{paint-order:stroke;stroke:#fff;stroke-width:3px}
.controls{margin:6px 0}
.controls label{margin-right:12px}
#slider{width:60%;vertical-align:middle}
.lane-reg{fill:#2e7d32}
.lane-refresh{stroke:#a5d6a7;stroke-width:2}
.lane-unans{fill:#c62828}
.lane-exp{stroke:#000;stroke-width:2}
.arrow-nhrp{stroke:#1f3a5f}
.arrow-ike{stroke:#8e44ad}
"""

JS = r"""
(function(){
"use strict";
var data=JSON.parse(document.getElementById("snapshots").textContent);
function pad(n){return (n<10?"0":"")+n;}
function iosDuration(s){ // as IOS prints an up/down time (render/show.py's ios_duration)
  s=Math.max(0,Math.trunc(s));
  if(s<86400){return pad(Math.floor(s/3600))+":"+pad(Math.floor(s%3600/60))+":"+pad(s%60);}
  var d=Math.floor(s/86400);
  if(d<7){return d+"d"+pad(Math.floor(s%86400/3600))+"h";}
  return Math.floor(d/7)+"w"+(d%7)+"d";
}
function tableAt(r,i){
  var tid=null;
  for(var k=0;k<r.changes.length;k++){if(r.changes[k][0]>i){break;} tid=r.changes[k][1];}
  return tid===null?[]:data.tables[tid].map(function(x){return data.rows[x];});
}
function cell(tr,text,cls){var td=document.createElement("td");td.textContent=text;if(cls){td.className=cls;}tr.appendChild(td);}
var slider=document.getElementById("slider"), pick=document.getElementById("snap-router");
var body=document.getElementById("snap-body"), when=document.getElementById("snap-when");
function draw(){
  var i=+slider.value, r=data.routers[+pick.value], t=data.times[i];
  var rows=tableAt(r,i);
  body.textContent="";
  rows.forEach(function(row){
    var tr=document.createElement("tr");
    cell(tr,String(row[0]),"num");cell(tr,row[1]);cell(tr,row[2]);cell(tr,row[3]);
    cell(tr,iosDuration(t-row[5]));cell(tr,row[4]);
    body.appendChild(tr);
  });
  if(!rows.length){var tr=document.createElement("tr");var td=document.createElement("td");
    td.colSpan=6;td.textContent="(no NHRP peers)";tr.appendChild(td);body.appendChild(tr);}
  var fr=data.frames[i];
  when.textContent="+"+(t-Number(slider.getAttribute("data-first"))).toFixed(3)+" s, "+new Date(t*1000).toISOString()+
    (fr===null?"":", after frame "+fr)+" (instant "+(i+1)+" of "+data.times.length+")";
  slider.setAttribute("data-time",String(t));
}
if(slider&&pick){slider.addEventListener("input",draw);pick.addEventListener("change",draw);draw();}
var lf=document.getElementById("ladder-router");
if(lf){lf.addEventListener("change",function(){
  var v=lf.value;
  document.querySelectorAll("#ladder g.msg").forEach(function(g){
    g.style.display=(!v||g.getAttribute("data-src")===v||g.getAttribute("data-dst")===v)?"":"none";
  });
});}
var pg=document.getElementById("chart-page");
if(pg){pg.addEventListener("change",function(){
  document.querySelectorAll(".chart-page").forEach(function(p){p.style.display=p.id===pg.value?"":"none";});
});}
})();
"""
