/* ab_uk.c - see ab_uk.sh: two micro-kernel tables (uk_a, uk_b) timed alternately on one forward tile. */
#include "kernels/kernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <math.h>
extern const attn_ukernels uk_a, uk_b;
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+1e-9*t.tv_nsec;}
static int cmpd(const void*a,const void*b){double x=*(const double*)a,y=*(const double*)b;return x<y?-1:x>y;}
#define REPS 400
static float *qt,*st,*ot,*K,*V; static int D,R=384,L=400,BCk=64; static const float*kr[64],*vr[64];
static float m[400],l[400],al[400],tm[400],*VP;
static void tile(const attn_ukernels*uk,double*t3){
  for(int r=0;r<R;r++)tm[r]=-INFINITY;
  double t0=now(); uk->gemm_a(BCk,D,R,qt,L,kr,st,L,0,tm); double t1=now();
  for(int r=0;r<R;r++)m[r]=1;
  uk->softmax(st,L,BCk,R,m,l,al,tm); double t2=now();
  uk->gemm_bp(D,BCk,R,st,L,VP,ot,L,al,NULL); double t3_=now();
  t3[0]=t1-t0;t3[1]=t2-t1;t3[2]=t3_-t2;}
int main(int argc,char**argv){
  D = argc>1?atoi(argv[1]):128;
  qt=aligned_alloc(64,4*D*L),st=aligned_alloc(64,4*BCk*L),ot=aligned_alloc(64,4*D*L);
  K=aligned_alloc(64,4*BCk*D),V=aligned_alloc(64,4*BCk*D);
  for(int i=0;i<D*L;i++)qt[i]=0.01f*(i%7),ot[i]=0;
  for(int i=0;i<BCk*D;i++)K[i]=0.01f*(i%5),V[i]=0.1f*(i%3);
  for(int j=0;j<BCk;j++)kr[j]=K+j*D,vr[j]=V+j*D;
  /* V in the forward's panels of uk_a.panel columns (both tables alike) */
  const int P=uk_a.panel;
  VP=aligned_alloc(64,4*BCk*(D+P));
  for(int j=0;j<BCk;j++)for(int d=0;d<D;d++)VP[d/P*BCk*P+j*P+d%P]=V[j*D+d];
  static double e[2][4][REPS]; double fl=2.0*BCk*D*R;
  for(int rep=0;rep<REPS;rep++){
    double t0=now(); double f=uk_a.fma_probe(20000); double tp=now()-t0; double peak=f/tp;
    for(int v=0;v<2;v++){ double t[3]; tile(v?&uk_b:&uk_a,t);
      e[v][0][rep]=fl/t[0]/peak; e[v][1][rep]=t[1]*peak/fl; e[v][2][rep]=fl/t[2]/peak; e[v][3][rep]=2*fl/(t[0]+t[1]+t[2])/peak; }
  }
  /* e[][][] sorted: "best" = ratio of best kernel to best probe would need times; use 90th percentile instead */
  for(int v=0;v<2;v++){ for(int c=0;c<4;c++) qsort(e[v][c],REPS,sizeof(double),cmpd);
    printf("%s D=%d  gemm_a p90 %.1f%% med %.1f%% | softmax/gemm-time p90 %.3f med %.3f | gemm_b p90 %.1f%% med %.1f%% | tile p90 %.1f%% med %.1f%%\n",
      v?"B":"A",D,100*e[v][0][REPS*9/10],100*e[v][0][REPS/2],e[v][1][REPS/10],e[v][1][REPS/2],100*e[v][2][REPS*9/10],100*e[v][2][REPS/2],100*e[v][3][REPS*9/10],100*e[v][3][REPS/2]);}
  return 0;}
