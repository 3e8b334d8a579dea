// licreg's formats in the browser, inlined into the passenger page and the wallet so each has
// one definition here: base64url, the numeric QR payload (docs/qr-payload.md), CBOR items and
// sequences (RFC 8949, RFC 8742), the COSE_Sign1 Sig_structure (RFC 9052), short serials, and
// the device-bound presentation (src/presentation.rs).
"use strict";
function b64url(s){s=s.replace(/-/g,"+").replace(/_/g,"/");while(s.length%4)s+="=";return Uint8Array.from(atob(s),c=>c.charCodeAt(0));}
function b64urlEncode(b){let s="";for(const x of b)s+=String.fromCharCode(x);return btoa(s).replace(/\+/g,"-").replace(/\//g,"_").replace(/=+$/,"");}
const DIGITS_FOR_BYTES=[0,3,5,8,10,13,15,17];
const WIDTH={3:1,5:2,8:3,10:4,13:5,15:6,17:7};
function decodeDigits(s){
  const out=[];
  for(let i=0;i<s.length;){
    const w=Math.min(17,s.length-i), n=WIDTH[w];
    if(!n) throw new Error("length");
    let v=BigInt(s.slice(i,i+w));
    if(v>>BigInt(8*n)) throw new Error("range");
    const chunk=[];for(let k=0;k<n;k++){chunk.unshift(Number(v&255n));v>>=8n;}
    out.push(...chunk);i+=w;
  }
  return Uint8Array.from(out);
}
function encodeDigits(bytes){
  let out="";
  for(let i=0;i<bytes.length;i+=7){
    const chunk=bytes.slice(i,i+7);let v=0n;for(const b of chunk)v=(v<<8n)|BigInt(b);
    out+=v.toString().padStart(DIGITS_FOR_BYTES[chunk.length],"0");
  }
  return out;
}
// Reads up to `max` CBOR items one after another: [{value, end}], `end` the offset after each.
function cborSeq(bytes,max){
  let p=0;
  const need=n=>{if(p+n>bytes.length)throw new Error("truncated");};
  function head(){need(1);const b=bytes[p++],mt=b>>5,ai=b&31;let v;
    if(ai<24)v=ai;else if(ai===24){need(1);v=bytes[p++];}
    else if(ai===25){need(2);v=bytes[p]*256+bytes[p+1];p+=2;}
    else if(ai===26){need(4);v=((bytes[p]*256+bytes[p+1])*256+bytes[p+2])*256+bytes[p+3];p+=4;}
    else if(ai===27){need(8);v=0;for(let k=0;k<8;k++)v=v*256+bytes[p+k];p+=8;}
    else throw new Error("indefinite");
    return [mt,v];}
  function item(depth){if(depth>16)throw new Error("deep");const [mt,v]=head();
    switch(mt){case 0:return v;case 1:return -1-v;
      case 2:{need(v);const s=bytes.slice(p,p+v);p+=v;return s;}
      case 3:{need(v);const s=new TextDecoder("utf-8",{fatal:true}).decode(bytes.slice(p,p+v));p+=v;return s;}
      case 4:{const a=[];for(let i=0;i<v;i++)a.push(item(depth+1));return a;}
      case 5:{const m=new Map();for(let i=0;i<v;i++){const k=item(depth+1);m.set(k,item(depth+1));}return m;}
      case 6:return {tag:v,value:item(depth+1)};
      default:throw new Error("type");}}
  const items=[];
  while(p<bytes.length){if(items.length===max)throw new Error("too many items");const value=item(0);items.push({value,end:p});}
  return items;
}
function cbor(bytes){const items=cborSeq(bytes,1);if(items.length!==1)throw new Error("empty");return items[0].value;}
function bstrHead(n){return n<24?[0x40|n]:n<256?[0x58,n]:[0x59,n>>8,n&255];}
function sigStructure(prot,payload){
  return Uint8Array.from([0x84,0x6a,...new TextEncoder().encode("Signature1"),...bstrHead(prot.length),...prot,0x40,...bstrHead(payload.length),...payload]);
}
function mod3736(s){const A="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";let p=36;
  for(const c of s){let x=(p+A.indexOf(c))%36;if(x===0)x=36;p=(x*2)%37;}return A[(37-p)%36];}
function shortSerial(cti){
  const letter={1:"D",2:"V",3:"P"}[cti[0]];let serial=0;for(let k=2;k<7;k++)serial=serial*256+cti[k];
  const body=letter+String(serial).padStart(10,"0")+String(cti[1]).padStart(3,"0");return body+mod3736(body);
}
function concatBytes(...parts){const n=parts.reduce((a,p)=>a+p.length,0),out=new Uint8Array(n);let o=0;for(const p of parts){out.set(p,o);o+=p.length;}return out;}
// The device-bound presentation: the time step, what the device signs, the step nearest a
// clock from its low 16 bits, and a device key's public thumbprint (as the live status names it).
const TIME_STEP_SECONDS=30, MAX_PRESENTATION_AGE_SECONDS=90, PRESENTATION_CLOCK_AHEAD_SECONDS=30;
const PRESENTATION_CONTEXT=new TextEncoder().encode("licreg-presentation-v1");
function timeStep(sec){return Math.floor(sec/TIME_STEP_SECONDS);}
function u64be(n){const b=new Uint8Array(8);const hi=Math.floor(n/4294967296),lo=n>>>0;new DataView(b.buffer).setUint32(0,hi);new DataView(b.buffer).setUint32(4,lo);return b;}
async function presentationMessage(credential,step){
  const hash=new Uint8Array(await crypto.subtle.digest("SHA-256",credential));
  return concatBytes(PRESENTATION_CONTEXT,hash,u64be(step));
}
function nearestStep(low,nowSec){const cur=timeStep(nowSec),behind=((cur-low)%65536+65536)%65536;return behind<32768?cur-behind:cur-behind+65536;}
function stepLowBytes(step){const low=step%65536;return Uint8Array.from(low<24?[low]:low<256?[0x18,low]:[0x19,low>>8,low&255]);}
async function thumbprint(key){const d=new Uint8Array(await crypto.subtle.digest("SHA-256",key));return b64urlEncode(d.slice(0,8));}
// The `cnf` claim's Ed25519 key (RFC 8747 COSE_Key: kty 1, crv 6, x), or null.
function cnfKey(claims){
  const cnf=claims.get(8);if(!(cnf instanceof Map))return null;
  const k=cnf.get(1);if(!(k instanceof Map)||k.get(1)!==1||k.get(-1)!==6)return null;
  const x=k.get(-2);return x instanceof Uint8Array&&x.length===32?x:null;
}
