// A QR Code Model 2 encoder (ISO/IEC 18004) for the wallet's dynamic code, drawn on the phone
// every 30 seconds with no network. It does what src/qr.rs does with qrcodegen: a byte segment
// for the URL head, a numeric segment for the payload digits, error correction level M, the
// smallest version that fits, and the mask with the lowest penalty. Tests decode what it draws
// with zbarimg (tests/wallet.rs).
"use strict";
const QR=(()=>{
  // Error correction codewords per block and blocks, level M, by version (the standard's table).
  const ECC_PER_BLOCK=[-1,10,16,26,18,24,16,18,22,22,26,30,22,22,24,24,28,28,26,26,26,26,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28,28];
  const BLOCKS=[-1,1,1,1,2,2,4,4,4,5,5,5,8,9,9,10,10,11,13,14,16,17,17,18,20,21,23,25,26,28,29,31,33,35,37,38,40,43,45,47,49];
  const MASKS=[(x,y)=>(x+y)%2===0,(x,y)=>y%2===0,(x,y)=>x%3===0,(x,y)=>(x+y)%3===0,
    (x,y)=>(Math.floor(x/3)+Math.floor(y/2))%2===0,(x,y)=>x*y%2+x*y%3===0,
    (x,y)=>(x*y%2+x*y%3)%2===0,(x,y)=>((x+y)%2+x*y%3)%2===0];
  function rawModules(v){let r=(16*v+128)*v+64;if(v>=2){const n=Math.floor(v/7)+2;r-=(25*n-10)*n-55;if(v>=7)r-=36;}return r;}
  function dataCodewords(v){return Math.floor(rawModules(v)/8)-ECC_PER_BLOCK[v]*BLOCKS[v];}
  const ALPHANUMERIC="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
  function countBits(mode,v){const i=v<=9?0:v<=26?1:2;return mode==="numeric"?[10,12,14][i]:mode==="alphanumeric"?[9,11,13][i]:[8,16,16][i];}
  function push(bits,val,len){for(let i=len-1;i>=0;i--)bits.push((val>>>i)&1);}
  function segmentBits(seg,v,bits){
    const n=seg.data.length;if(n>=2**countBits(seg.mode,v))return false;
    if(seg.mode==="byte"){push(bits,4,4);push(bits,n,countBits("byte",v));for(const b of seg.data)push(bits,b,8);}
    else if(seg.mode==="alphanumeric"){push(bits,2,4);push(bits,n,countBits("alphanumeric",v));
      for(let i=0;i<n;i+=2){const a=ALPHANUMERIC.indexOf(seg.data[i]);
        if(i+1<n)push(bits,a*45+ALPHANUMERIC.indexOf(seg.data[i+1]),11);else push(bits,a,6);}}
    else{push(bits,1,4);push(bits,n,countBits("numeric",v));
      for(let i=0;i<n;i+=3){const g=seg.data.slice(i,i+3);push(bits,parseInt(g,10),g.length*3+1);}}
    return true;
  }
  function gfMul(x,y){let z=0;for(let i=7;i>=0;i--){z=(z<<1)^((z>>>7)*0x11D);z^=((y>>>i)&1)*x;}return z;}
  function rsDivisor(degree){const r=new Array(degree).fill(0);r[degree-1]=1;let root=1;
    for(let i=0;i<degree;i++){for(let j=0;j<r.length;j++){r[j]=gfMul(r[j],root);if(j+1<r.length)r[j]^=r[j+1];}root=gfMul(root,2);}
    return r;}
  function rsRemainder(data,divisor){const r=new Array(divisor.length).fill(0);
    for(const b of data){const f=b^r.shift();r.push(0);divisor.forEach((c,i)=>{r[i]^=gfMul(c,f);});}
    return r;}
  // Splits the data into blocks, adds each block's error correction, and interleaves them.
  function withEcc(v,data){
    const blocks=BLOCKS[v],ecc=ECC_PER_BLOCK[v],raw=Math.floor(rawModules(v)/8);
    const short=blocks-raw%blocks,shortLen=Math.floor(raw/blocks),divisor=rsDivisor(ecc),all=[];
    for(let i=0,k=0;i<blocks;i++){
      const d=Array.from(data.slice(k,k+shortLen-ecc+(i<short?0:1)));k+=d.length;
      const e=rsRemainder(d,divisor);if(i<short)d.push(0);all.push(d.concat(e));
    }
    const out=[];
    for(let i=0;i<all[0].length;i++)all.forEach((b,j)=>{if(i!==shortLen-ecc||j>=short)out.push(b[i]);});
    return out;
  }
  function alignPositions(v,size){
    if(v===1)return[];
    const n=Math.floor(v/7)+2,step=v===32?26:Math.ceil((v*4+4)/(n*2-2))*2,r=[6];
    for(let p=size-7;r.length<n;p-=step)r.splice(1,0,p);
    return r;
  }
  function formatBits(mask,set,size){
    const data=mask;let r=data;for(let i=0;i<10;i++)r=(r<<1)^((r>>>9)*0x537);   // level M is 00
    const bits=((data<<10)|r)^0x5412,g=i=>((bits>>>i)&1)===1;
    for(let i=0;i<=5;i++)set(8,i,g(i));set(8,7,g(6));set(8,8,g(7));set(7,8,g(8));
    for(let i=9;i<15;i++)set(14-i,8,g(i));
    for(let i=0;i<8;i++)set(size-1-i,8,g(i));
    for(let i=8;i<15;i++)set(8,size-15+i,g(i));
    set(8,size-8,true);
  }
  function penalty(c,size){
    let s=0;const lines=[];
    for(let y=0;y<size;y++)lines.push(c[y]);
    for(let x=0;x<size;x++)lines.push(c.map(row=>row[x]));
    for(const line of lines){
      let run=1;
      for(let i=1;i<=size;i++){if(i<size&&line[i]===line[i-1])run++;else{if(run>=5)s+=run-2;run=1;}}
      const text=line.map(d=>d?"1":"0").join("");
      for(const pattern of["10111010000","00001011101"]){let k=text.indexOf(pattern);while(k!==-1){s+=40;k=text.indexOf(pattern,k+1);}}
    }
    for(let y=0;y<size-1;y++)for(let x=0;x<size-1;x++){const d=c[y][x];if(d===c[y][x+1]&&d===c[y+1][x]&&d===c[y+1][x+1])s+=3;}
    let dark=0;for(const row of c)for(const d of row)if(d)dark++;
    return s+10*Math.floor(Math.abs(dark*20-size*size*10)/(size*size));
  }
  function draw(v,codewords){
    const size=v*4+17,m=[],fn=[];
    for(let y=0;y<size;y++){m.push(new Array(size).fill(false));fn.push(new Array(size).fill(false));}
    const set=(x,y,d)=>{m[y][x]=d;fn[y][x]=true;};
    for(let i=0;i<size;i++){set(6,i,i%2===0);set(i,6,i%2===0);}
    const finder=(cx,cy)=>{for(let dy=-4;dy<=4;dy++)for(let dx=-4;dx<=4;dx++){
      const x=cx+dx,y=cy+dy,d=Math.max(Math.abs(dx),Math.abs(dy));if(x>=0&&x<size&&y>=0&&y<size)set(x,y,d!==2&&d!==4);}};
    finder(3,3);finder(size-4,3);finder(3,size-4);
    const pos=alignPositions(v,size),n=pos.length;
    for(let i=0;i<n;i++)for(let j=0;j<n;j++){
      if((i===0&&j===0)||(i===0&&j===n-1)||(i===n-1&&j===0))continue;
      for(let dy=-2;dy<=2;dy++)for(let dx=-2;dx<=2;dx++)set(pos[i]+dx,pos[j]+dy,Math.max(Math.abs(dx),Math.abs(dy))!==1);
    }
    formatBits(0,set,size);
    if(v>=7){let r=v;for(let i=0;i<12;i++)r=(r<<1)^((r>>>11)*0x1F25);const bits=(v<<12)|r;
      for(let i=0;i<18;i++){const d=((bits>>>i)&1)===1,a=size-11+i%3,b=Math.floor(i/3);set(a,b,d);set(b,a,d);}}
    let i=0;const total=codewords.length*8;
    for(let right=size-1;right>=1;right-=2){
      if(right===6)right=5;
      for(let vert=0;vert<size;vert++)for(let j=0;j<2;j++){
        const x=right-j,up=((right+1)&2)===0,y=up?size-1-vert:vert;
        if(!fn[y][x]&&i<total){m[y][x]=((codewords[i>>>3]>>>(7-(i&7)))&1)===1;i++;}
      }
    }
    let best=null,bestScore=Infinity;
    for(let mask=0;mask<8;mask++){
      const c=m.map((row,y)=>row.map((d,x)=>fn[y][x]?d:d!==MASKS[mask](x,y)));
      formatBits(mask,(x,y,d)=>{c[y][x]=d;},size);
      const score=penalty(c,size);if(score<bestScore){bestScore=score;best=c;}
    }
    return best;
  }
  // segments: [{mode:"byte",data:Uint8Array}, {mode:"numeric",data:"0123…"}] → {version, modules}
  function encode(segments){
    for(let v=1;v<=40;v++){
      const capacity=dataCodewords(v)*8,bits=[];
      if(!segments.every(s=>segmentBits(s,v,bits))||bits.length>capacity)continue;
      push(bits,0,Math.min(4,capacity-bits.length));
      push(bits,0,(8-bits.length%8)%8);
      for(let pad=0xEC;bits.length<capacity;pad^=0xEC^0x11)push(bits,pad,8);
      const data=new Uint8Array(bits.length/8);
      bits.forEach((b,k)=>{data[k>>>3]|=b<<(7-(k&7));});
      return {version:v,modules:draw(v,withEcc(v,data))};
    }
    throw new Error("too long for a QR code");
  }
  // A verification URL: the head up to '#' (alphanumeric when it is all upper case, as a
  // wallet's head is; '#' itself is a byte), and the digits after it as a numeric segment.
  function encodeUrl(url){
    const at=url.indexOf("#"),head=url.slice(0,at),digits={mode:"numeric",data:url.slice(at+1)};
    if(head&&[...head].every(c=>ALPHANUMERIC.includes(c)))
      return encode([{mode:"alphanumeric",data:head},{mode:"byte",data:Uint8Array.from([35])},digits]);
    return encode([{mode:"byte",data:new TextEncoder().encode(url.slice(0,at+1))},digits]);
  }
  function svg(modules){
    const border=4,size=modules.length+2*border;let path="";
    modules.forEach((row,y)=>row.forEach((d,x)=>{if(d)path+="M"+(x+border)+","+(y+border)+"h1v1h-1z";}));
    return '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 '+size+" "+size+'" shape-rendering="crispEdges"><rect width="100%" height="100%" fill="#fff"/><path d="'+path+'" fill="#000"/></svg>';
  }
  return {encode,encodeUrl,svg};
})();
