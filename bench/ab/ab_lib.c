/* ab_lib.c - see ab_lib.sh: two whole libattn builds (old_ prefixed symbols and the current one) timed alternately on one head. */
#include "attn.h"
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
attn_status old_attn_forward(attn_tensor *out, attn_tensor *lse, attn_tensor *weights, const attn_tensor *q,
                             const attn_tensor *k, const attn_tensor *v, const attn_options *o);
double old_attn_peak_gflops(int threads, double ms);
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static int cmpd(const void*a,const void*b){double x=*(const double*)a,y=*(const double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  int N=atoi(argv[1]),D=atoi(argv[2]),causal=atoi(argv[3]),th=atoi(argv[4]),reps=atoi(argv[5]);
  float*q=malloc(4L*N*D),*k=malloc(4L*N*D),*v=malloc(4L*N*D),*o=malloc(4L*N*D),*o2=malloc(4L*N*D),*ls=malloc(4L*N);
  srand(1); for(long i=0;i<(long)N*D;i++){q[i]=rand()/(float)RAND_MAX-0.5f;k[i]=rand()/(float)RAND_MAX-0.5f;v[i]=rand()/(float)RAND_MAX-0.5f;}
  attn_tensor tq=attn_tensor_4d(q,ATTN_F32,1,1,N,D),tk=attn_tensor_4d(k,ATTN_F32,1,1,N,D),tv=attn_tensor_4d(v,ATTN_F32,1,1,N,D);
  attn_tensor to=attn_tensor_4d(o,ATTN_F32,1,1,N,D),to2=attn_tensor_4d(o2,ATTN_F32,1,1,N,D),tl=attn_tensor_3d(ls,ATTN_F32,1,1,N);
  attn_options op; memset(&op,0,sizeof op); op.causal=causal?ATTN_CAUSAL_TOP_LEFT:ATTN_CAUSAL_NONE; op.threads=th;
  double fl=2.0*N*(double)N*2*D*(causal?0.5:1);
  double *ta=malloc(8*reps),*tb=malloc(8*reps),*r=malloc(8*reps);
  double pk=attn_peak_gflops(th,200);
  old_attn_forward(&to,&tl,NULL,&tq,&tk,&tv,&op); attn_forward(&to2,&tl,NULL,&tq,&tk,&tv,&op);
  for(int i=0;i<reps;i++){ double t0=now(); old_attn_forward(&to,&tl,NULL,&tq,&tk,&tv,&op); double t1=now(); attn_forward(&to2,&tl,NULL,&tq,&tk,&tv,&op); double t2=now();
    ta[i]=t1-t0; tb[i]=t2-t1; r[i]=tb[i]/ta[i];}
  qsort(ta,reps,8,cmpd);qsort(tb,reps,8,cmpd);qsort(r,reps,8,cmpd);
  double maxd=0; for(long i=0;i<(long)N*D;i++){double d=o[i]-o2[i]; if(d<0)d=-d; if(d>maxd)maxd=d;}
  printf("N=%d D=%d causal=%d th=%d peak %.0f | old min %.2f ms (%.1f%%) p10 %.2f med %.2f | new min %.2f ms (%.1f%%) p10 %.2f med %.2f | new/old per-round ratio p10 %.3f med %.3f p90 %.3f | max|diff| %.2g\n",
    N,D,causal,th,pk,ta[0]*1e3,100*fl/ta[0]/1e9/pk,ta[reps/10]*1e3,ta[reps/2]*1e3,tb[0]*1e3,100*fl/tb[0]/1e9/pk,tb[reps/10]*1e3,tb[reps/2]*1e3,r[reps/10],r[reps/2],r[reps*9/10],maxd);
  return 0;}
