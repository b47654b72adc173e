/* ab_fwd.c - see ab_fwd.sh: two forward drivers (fwd_a, fwd_b) timed alternately on one head. */

#include "kernels/kernels.h"
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <math.h>
attn_status fwd_a(const attn_problem *p, const attn_ukernels *uk);
attn_status fwd_b(const attn_problem *p, const attn_ukernels *uk);
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static int cmpd(const void*a,const void*b){double x=*(const double*)a,y=*(const double*)b;return x<y?-1:x>y;}
int main(int argc,char**argv){
  int N=atoi(argv[1]),D=atoi(argv[2]),causal=atoi(argv[3]),th=atoi(argv[4]),reps=argc>5?atoi(argv[5]):30;
  float*q=malloc(4L*N*D),*k=malloc(4L*N*D),*v=malloc(4L*N*D),*o=malloc(4L*N*D),*o2=malloc(4L*N*D),*ls=malloc(4L*N);
  srand(1); for(long i=0;i<(long)N*D;i++){q[i]=rand()/(float)RAND_MAX-0.5f;k[i]=rand()/(float)RAND_MAX-0.5f;v[i]=rand()/(float)RAND_MAX-0.5f;}
  attn_tensor tq=attn_tensor_4d(q,ATTN_F32,1,1,N,D),tk=attn_tensor_4d(k,ATTN_F32,1,1,N,D),tv=attn_tensor_4d(v,ATTN_F32,1,1,N,D);
  attn_tensor to=attn_tensor_4d(o,ATTN_F32,1,1,N,D),to2=attn_tensor_4d(o2,ATTN_F32,1,1,N,D),tl=attn_tensor_3d(ls,ATTN_F32,1,1,N);
  attn_options op; memset(&op,0,sizeof op); op.causal=causal?ATTN_CAUSAL_TOP_LEFT:ATTN_CAUSAL_NONE; op.threads=th;
  attn_problem pa,pb; attn_problem_init(&pa,"a",&to,&tl,NULL,&tq,&tk,&tv,&op); attn_problem_init(&pb,"b",&to2,&tl,NULL,&tq,&tk,&tv,&op);
  const attn_ukernels*uk=&attn_uk_avx512; double fl=2.0*N*N*2*D*(causal?0.5:1);
  double *ta=malloc(8*reps),*tb=malloc(8*reps),*pk=malloc(8*reps);
  fwd_a(&pa,uk); fwd_b(&pb,uk);
  for(int r=0;r<reps;r++){ double t0=now(); fwd_a(&pa,uk); double t1=now(); fwd_b(&pb,uk); double t2=now();
    double p=0; if(r%1==0){double t3=now(); double f=uk->fma_probe(200000); p=f/(now()-t3)/1e9;} ta[r]=t1-t0; tb[r]=t2-t1; pk[r]=p;}
  qsort(ta,reps,8,cmpd);qsort(tb,reps,8,cmpd);qsort(pk,reps,8,cmpd);
  int same=memcmp(o,o2,4L*N*D)==0;
  printf("N=%d D=%d causal=%d th=%d | probe1 best %.1f med %.1f | A min %.2f ms med %.2f (%.1f%% of 1-core*th best) | B min %.2f med %.2f (%.1f%%) | B/A min %.3f med %.3f | same=%d\n",
    N,D,causal,th,pk[reps-1],pk[reps/2],ta[0]*1e3,ta[reps/2]*1e3,100*fl/ta[0]/1e9/(pk[reps-1]*th),tb[0]*1e3,tb[reps/2]*1e3,100*fl/tb[0]/1e9/(pk[reps-1]*th),tb[0]/ta[0],tb[reps/2]/ta[reps/2],same);
  return 0;}
