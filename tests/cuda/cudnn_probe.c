/* tests/cuda/cudnn_probe.c - what cuDNN 9's C API does without a device (and, run on a GPU, with one): the
 * experiment behind backend/cuda/cudnn_plan.h. Not a test: it asserts nothing and prints one line per call
 * ("ok" / "FAIL" / "CRASH", the status name and code, cuDNN's last error string). Calls that may crash without
 * a handle run in a child process. Sections:
 *   1. versions, cudnnCreate;
 *   2. legacy descriptors (tensor, filter, convolution, pooling, activation, derived BN) and their dimension
 *      queries, and the calls that need a handle;
 *   3. backend descriptors: tensors, convolution + its three operations (and a wrong y), pointwise add/relu/
 *      relu_bwd, norm forward (training) and backward, resample (max pool) forward/backward (and a wrong y);
 *   4. operation graphs without a handle, engine counts, engine heuristics, engines, engine configs and
 *      execution plans without a device; device properties of device 0 and from JSON;
 *   5. deviceless ahead-of-time: hand-written sm_90 (H100) device properties in cuDNN's JSON form, engine
 *      heuristics and execution plans for convolution, norm, resample and pointwise graphs; then every engine
 *      of batch-norm and pooling graphs in NCHW and NHWC, as far as an execution plan.
 * Built as tgc_cudnn_probe in CUDA builds: build/tests/tgc_cudnn_probe. */
#include <cudnn.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdlib.h>

static void firstline(char *s) { char *nl = strchr(s, '\n'); if (nl) *nl = 0; }
/* cuDNN's DEVICEPROP JSON for an H100 SXM 80GB, written by hand (the keys are the ones libcudnn_graph reads). */
static const char *h100_json = "{\"maxGridSize\": [2147483647, 65535, 65535], \"maxBlockSize\": [1024, 1024, 64], \"regsPerBlock\": 65536, \"multiProcessorCount\": 132, \"warpSize\": 32, \"maxSharedMemoryPerBlock\": 49152, \"maxSharedMemoryPerBlockOptin\": 232448, \"reservedSharedMemoryPerBlock\": 1024, \"maxRegistersPerSM\": 65536, \"maxCtasPerSM\": 32, \"maxThreadsPerBlock\": 1024, \"maxThreadsPerSM\": 2048, \"pciDeviceId\": 0, \"isTccDriver\": 0, \"supportCoopLaunch\": 1, \"smClockRateKHz\": 1980000, \"memClockRateKHz\": 2619000, \"l2CacheSize\": 52428800, \"deviceName\": \"NVIDIA H100 80GB HBM3\", \"totalGlobalMem\": 85045379072, \"cudaDeviceId\": 0, \"deviceVer\": 900, \"driverVer\": 13000}";
static int R(const char *what, cudnnStatus_t s) {
    char last[1024] = "";
    if (s) cudnnGetLastErrorString(last, sizeof last);
    printf("%-4s %-78s %s (%d)%s%s\n", s ? "FAIL" : "ok", what, cudnnGetErrorString(s), (int)s, *last ? " | " : "", last);
    return s;
}
#define T(call) R(#call, (call))
/* a call that may crash: in a child process */
#define TF(call) do { fflush(stdout); pid_t pid_ = fork(); if (pid_ == 0) { R(#call, (call)); fflush(stdout); _exit(0); } int st_; waitpid(pid_, &st_, 0); \
    if (WIFSIGNALED(st_)) printf("CRASH %-77s killed by signal %d\n", #call, WTERMSIG(st_)); } while (0)
typedef cudnnBackendDescriptor_t BD;
static BD mk(cudnnBackendDescriptorType_t t) { BD d = NULL; cudnnStatus_t s = cudnnBackendCreateDescriptor(t, &d); if (s) R("create", s); return d; }
static int64_t uidc = 1;
static BD tens(int n, const int64_t *dims, int virt, int byval) {
    BD d = mk(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    int64_t str[8]; str[n-1] = 1; for (int i = n - 2; i >= 0; i--) str[i] = str[i+1] * dims[i+1];
    cudnnDataType_t f = CUDNN_DATA_FLOAT; int64_t al = 4, uid = uidc++; bool v = virt, bv = byval;
    cudnnStatus_t s = 0;
    s |= cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f);
    s |= cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, n, dims);
    s |= cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, n, str);
    s |= cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    s |= cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &al);
    if (virt) s |= cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &v);
    if (byval) s |= cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &bv);
    if (s) printf("tensor set failed\n");
    return d;
}
#define SETD(d, a, x) cudnnBackendSetAttribute(d, a, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &(x))
static void probe_layouts(void);
int main(void) {
    int ndev = -1; cudaError_t ce = cudaGetDeviceCount(&ndev);
    printf("cudaGetDeviceCount -> %d (%s), n=%d\n", (int)ce, cudaGetErrorString(ce), ndev);
    printf("cudnnGetVersion %zu, cudart %zu\n", cudnnGetVersion(), cudnnGetCudartVersion());
    T(cudnnGraphVersionCheck()); T(cudnnOpsVersionCheck()); T(cudnnCnnVersionCheck());
    cudnnHandle_t h = NULL;
    T(cudnnCreate(&h));
    printf("handle=%p\n", (void *)h);
    /* ---- legacy ---- */
    cudnnTensorDescriptor_t xd, yd, bnd, yd2; cudnnFilterDescriptor_t wd; cudnnConvolutionDescriptor_t cd;
    cudnnPoolingDescriptor_t pd; cudnnActivationDescriptor_t ad;
    int xdim[4] = {2, 8, 16, 16}, xstr[4] = {2048, 256, 16, 1}, wdim[4] = {16, 8, 3, 3};
    T(cudnnCreateTensorDescriptor(&xd));
    T(cudnnSetTensorNdDescriptor(xd, CUDNN_DATA_FLOAT, 4, xdim, xstr));
    T(cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 2, 8, 16, 16));
    T(cudnnCreateFilterDescriptor(&wd));
    T(cudnnSetFilterNdDescriptor(wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 4, wdim));
    T(cudnnCreateConvolutionDescriptor(&cd));
    int pad[2] = {1, 1}, st[2] = {2, 2}, dil[2] = {1, 1}, out[4] = {0};
    T(cudnnSetConvolutionNdDescriptor(cd, 2, pad, st, dil, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    T(cudnnSetConvolutionMathType(cd, CUDNN_FMA_MATH));
    T(cudnnSetConvolutionGroupCount(cd, 1));
    T(cudnnGetConvolutionNdForwardOutputDim(cd, xd, wd, 4, out));
    printf("     conv out %d %d %d %d\n", out[0], out[1], out[2], out[3]);
    int wg[4] = {16, 4, 3, 3}; cudnnFilterDescriptor_t wgd; cudnnCreateFilterDescriptor(&wgd);
    cudnnSetFilterNdDescriptor(wgd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 4, wg);
    T(cudnnSetConvolutionGroupCount(cd, 2));
    T(cudnnGetConvolutionNdForwardOutputDim(cd, xd, wgd, 4, out));
    printf("     grouped conv out %d %d %d %d\n", out[0], out[1], out[2], out[3]);
    T(cudnnGetConvolutionNdForwardOutputDim(cd, xd, wd, 4, out)); /* wrong: groups 2 with C/g=8 */
    cudnnSetConvolutionGroupCount(cd, 1);
    T(cudnnCreateTensorDescriptor(&yd));
    int ydim[4] = {2, 16, 8, 8}, ystr[4] = {1024, 64, 8, 1};
    T(cudnnSetTensorNdDescriptor(yd, CUDNN_DATA_FLOAT, 4, ydim, ystr));
    size_t ws = 0;
    TF(cudnnGetConvolutionForwardWorkspaceSize(h, xd, wd, cd, yd, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, &ws));
    int nalgo = 0; cudnnConvolutionFwdAlgoPerf_t perf[8];
    TF(cudnnGetConvolutionForwardAlgorithm_v7(h, xd, wd, cd, yd, 8, &nalgo, perf));
    TF(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &nalgo));
    T(cudnnCreatePoolingDescriptor(&pd));
    int win[2] = {3, 3}, pp[2] = {1, 1}, ps[2] = {2, 2};
    T(cudnnSetPoolingNdDescriptor(pd, CUDNN_POOLING_MAX_DETERMINISTIC, CUDNN_NOT_PROPAGATE_NAN, 2, win, pp, ps));
    T(cudnnGetPoolingNdForwardOutputDim(pd, xd, 4, out));
    printf("     pool out %d %d %d %d\n", out[0], out[1], out[2], out[3]);
    T(cudnnCreateActivationDescriptor(&ad));
    T(cudnnSetActivationDescriptor(ad, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0));
    T(cudnnCreateTensorDescriptor(&bnd));
    T(cudnnDeriveBNTensorDescriptor(bnd, xd, CUDNN_BATCHNORM_SPATIAL));
    { cudnnDataType_t dt; int nd = 0, d[8], s[8];
      T(cudnnGetTensorNdDescriptor(bnd, 8, &dt, &nd, d, s));
      printf("     bn derived nd=%d %d %d %d %d\n", nd, d[0], d[1], d[2], d[3]); }
    TF(cudnnGetBatchNormalizationForwardTrainingExWorkspaceSize(h, CUDNN_BATCHNORM_SPATIAL_PERSISTENT, CUDNN_BATCHNORM_OPS_BN_ACTIVATION, xd, NULL, xd, bnd, ad, &ws));
    cudnnCreateTensorDescriptor(&yd2);
    T(cudnnDestroyTensorDescriptor(yd2));
    /* ---- backend ---- */
    int64_t X[4] = {2, 8, 16, 16}, W[4] = {16, 8, 3, 3}, Y[4] = {2, 16, 8, 8}, Ybad[4] = {2, 16, 9, 9}, C1[4] = {1, 8, 1, 1}, S1[4] = {1, 1, 1, 1};
    BD x = tens(4, X, 0, 0), w = tens(4, W, 0, 0), y = tens(4, Y, 0, 0), ybad = tens(4, Ybad, 0, 0);
    T(cudnnBackendFinalize(x)); T(cudnnBackendFinalize(w)); T(cudnnBackendFinalize(y)); T(cudnnBackendFinalize(ybad));
    BD conv = mk(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
    { int64_t sd = 2, p[2] = {1, 1}, s[2] = {2, 2}, dl[2] = {1, 1}; cudnnDataType_t f = CUDNN_DATA_FLOAT; cudnnConvolutionMode_t m = CUDNN_CROSS_CORRELATION;
      T(cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f));
      T(cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &m));
      T(cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &sd));
      T(cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dl));
      T(cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, s));
      T(cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, p));
      T(cudnnBackendSetAttribute(conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, p));
      T(cudnnBackendFinalize(conv)); }
    float one = 1.f, zero = 0.f;
    BD fwd = mk(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
    SETD(fwd, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv); SETD(fwd, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, x);
    SETD(fwd, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, w); SETD(fwd, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, y);
    cudnnBackendSetAttribute(fwd, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &one);
    cudnnBackendSetAttribute(fwd, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &zero);
    T(cudnnBackendFinalize(fwd) /* conv fwd */);
    BD fwdbad = mk(CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR);
    SETD(fwdbad, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, conv); SETD(fwdbad, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, x);
    SETD(fwdbad, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, w); SETD(fwdbad, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, ybad);
    cudnnBackendSetAttribute(fwdbad, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &one);
    cudnnBackendSetAttribute(fwdbad, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &zero);
    T(cudnnBackendFinalize(fwdbad) /* conv fwd, wrong Y 9x9 */);
    BD dgrad = mk(CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR);
    SETD(dgrad, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, conv); SETD(dgrad, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX, x);
    SETD(dgrad, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, w); SETD(dgrad, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY, y);
    cudnnBackendSetAttribute(dgrad, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA, CUDNN_TYPE_FLOAT, 1, &one);
    cudnnBackendSetAttribute(dgrad, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA, CUDNN_TYPE_FLOAT, 1, &zero);
    T(cudnnBackendFinalize(dgrad) /* conv bwd data */);
    BD wgrad = mk(CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR);
    SETD(wgrad, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC, conv); SETD(wgrad, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X, x);
    SETD(wgrad, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, w); SETD(wgrad, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY, y);
    cudnnBackendSetAttribute(wgrad, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA, CUDNN_TYPE_FLOAT, 1, &one);
    cudnnBackendSetAttribute(wgrad, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA, CUDNN_TYPE_FLOAT, 1, &zero);
    T(cudnnBackendFinalize(wgrad) /* conv bwd filter */);
    /* pointwise */
    BD pwadd = mk(CUDNN_BACKEND_POINTWISE_DESCRIPTOR), pwrelu = mk(CUDNN_BACKEND_POINTWISE_DESCRIPTOR), pwrb = mk(CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    { cudnnPointwiseMode_t m = CUDNN_POINTWISE_ADD; cudnnDataType_t f = CUDNN_DATA_FLOAT;
      cudnnBackendSetAttribute(pwadd, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &m);
      cudnnBackendSetAttribute(pwadd, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &f);
      T(cudnnBackendFinalize(pwadd) /* pointwise ADD */);
      m = CUDNN_POINTWISE_RELU_FWD;
      cudnnBackendSetAttribute(pwrelu, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &m);
      cudnnBackendSetAttribute(pwrelu, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &f);
      T(cudnnBackendFinalize(pwrelu) /* pointwise RELU_FWD */);
      m = CUDNN_POINTWISE_RELU_BWD;
      cudnnBackendSetAttribute(pwrb, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &m);
      cudnnBackendSetAttribute(pwrb, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &f);
      T(cudnnBackendFinalize(pwrb) /* pointwise RELU_BWD */); }
    BD yv = tens(4, Y, 1, 0), y2 = tens(4, Y, 0, 0), y3 = tens(4, Y, 0, 0); cudnnBackendFinalize(yv); cudnnBackendFinalize(y2); cudnnBackendFinalize(y3);
    BD opadd = mk(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    SETD(opadd, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pwadd); SETD(opadd, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, y);
    SETD(opadd, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, y2); SETD(opadd, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, yv);
    T(cudnnBackendFinalize(opadd) /* op pointwise add */);
    BD oprelu = mk(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    SETD(oprelu, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pwrelu); SETD(oprelu, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, yv);
    SETD(oprelu, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y3);
    T(cudnnBackendFinalize(oprelu) /* op pointwise relu */);
    BD oprb = mk(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR); BD dyr = tens(4, Y, 0, 0), dxr = tens(4, Y, 0, 0); cudnnBackendFinalize(dyr); cudnnBackendFinalize(dxr);
    SETD(oprb, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pwrb); SETD(oprb, CUDNN_ATTR_OPERATION_POINTWISE_DYDESC, dyr);
    SETD(oprb, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, y3); SETD(oprb, CUDNN_ATTR_OPERATION_POINTWISE_DXDESC, dxr);
    T(cudnnBackendFinalize(oprb) /* op pointwise relu_bwd */);
    /* norm forward training on x [2,8,16,16] */
    BD mean = tens(4, C1, 0, 0), ivar = tens(4, C1, 0, 0), sc = tens(4, C1, 0, 0), bi = tens(4, C1, 0, 0), rm = tens(4, C1, 0, 0), rv = tens(4, C1, 0, 0), rm2 = tens(4, C1, 0, 0), rv2 = tens(4, C1, 0, 0);
    BD eps = tens(4, S1, 0, 1), mom = tens(4, S1, 0, 1), bny = tens(4, X, 0, 0);
    BD all[] = {mean, ivar, sc, bi, rm, rv, rm2, rv2, eps, mom, bny};
    for (unsigned i = 0; i < sizeof all / sizeof *all; i++) if (cudnnBackendFinalize(all[i])) printf("tensor %u finalize failed\n", i);
    T(cudnnBackendFinalize(eps) /* by-value scalar, finalized a second time */);
    BD nf = mk(CUDNN_BACKEND_OPERATION_NORM_FORWARD_DESCRIPTOR);
    { cudnnBackendNormMode_t m = CUDNN_BATCH_NORM; cudnnBackendNormFwdPhase_t ph = CUDNN_NORM_FWD_TRAINING;
      cudnnBackendSetAttribute(nf, CUDNN_ATTR_OPERATION_NORM_FWD_MODE, CUDNN_TYPE_NORM_MODE, 1, &m);
      cudnnBackendSetAttribute(nf, CUDNN_ATTR_OPERATION_NORM_FWD_PHASE, CUDNN_TYPE_NORM_FWD_PHASE, 1, &ph);
      SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_XDESC, x); SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_MEAN_DESC, mean);
      SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_INV_VARIANCE_DESC, ivar); SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_SCALE_DESC, sc);
      SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_BIAS_DESC, bi); SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_EPSILON_DESC, eps);
      SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_EXP_AVG_FACTOR_DESC, mom);
      SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_INPUT_RUNNING_MEAN_DESC, rm); SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_INPUT_RUNNING_VAR_DESC, rv);
      SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_OUTPUT_RUNNING_MEAN_DESC, rm2); SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_OUTPUT_RUNNING_VAR_DESC, rv2);
      SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_YDESC, bny);
      T(cudnnBackendFinalize(nf) /* norm fwd training */); }
    BD nb = mk(CUDNN_BACKEND_OPERATION_NORM_BACKWARD_DESCRIPTOR);
    { BD dy = tens(4, X, 0, 0), dx = tens(4, X, 0, 0), ds = tens(4, C1, 0, 0), db = tens(4, C1, 0, 0);
      cudnnBackendFinalize(dy); cudnnBackendFinalize(dx); cudnnBackendFinalize(ds); cudnnBackendFinalize(db);
      cudnnBackendNormMode_t m = CUDNN_BATCH_NORM;
      cudnnBackendSetAttribute(nb, CUDNN_ATTR_OPERATION_NORM_BWD_MODE, CUDNN_TYPE_NORM_MODE, 1, &m);
      SETD(nb, CUDNN_ATTR_OPERATION_NORM_BWD_XDESC, x); SETD(nb, CUDNN_ATTR_OPERATION_NORM_BWD_MEAN_DESC, mean);
      SETD(nb, CUDNN_ATTR_OPERATION_NORM_BWD_INV_VARIANCE_DESC, ivar); SETD(nb, CUDNN_ATTR_OPERATION_NORM_BWD_DYDESC, dy);
      SETD(nb, CUDNN_ATTR_OPERATION_NORM_BWD_SCALE_DESC, sc); SETD(nb, CUDNN_ATTR_OPERATION_NORM_BWD_DSCALE_DESC, ds);
      SETD(nb, CUDNN_ATTR_OPERATION_NORM_BWD_DBIAS_DESC, db); SETD(nb, CUDNN_ATTR_OPERATION_NORM_BWD_DXDESC, dx);
      T(cudnnBackendFinalize(nb) /* norm bwd */); }
    /* resample */
    BD rs = mk(CUDNN_BACKEND_RESAMPLE_DESCRIPTOR);
    { cudnnResampleMode_t m = CUDNN_RESAMPLE_MAXPOOL; cudnnDataType_t f = CUDNN_DATA_FLOAT; cudnnPaddingMode_t pm = CUDNN_NEG_INF_PAD;
      int64_t sd = 2; cudnnFraction_t wi[2] = {{3, 1}, {3, 1}}, s[2] = {{2, 1}, {2, 1}}, p[2] = {{1, 1}, {1, 1}};
      cudnnNanPropagation_t nan = CUDNN_NOT_PROPAGATE_NAN;
      T(cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_MODE, CUDNN_TYPE_RESAMPLE_MODE, 1, &m));
      T(cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f));
      T(cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_NAN_PROPAGATION, CUDNN_TYPE_NAN_PROPOGATION, 1, &nan));
      T(cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_PADDING_MODE, CUDNN_TYPE_PADDING_MODE, 1, &pm));
      T(cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &sd));
      T(cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_WINDOW_DIMS, CUDNN_TYPE_FRACTION, 2, wi));
      T(cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_STRIDES, CUDNN_TYPE_FRACTION, 2, s));
      T(cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_PRE_PADDINGS, CUDNN_TYPE_FRACTION, 2, p));
      T(cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_POST_PADDINGS, CUDNN_TYPE_FRACTION, 2, p));
      T(cudnnBackendFinalize(rs)); }
    int64_t P[4] = {2, 8, 8, 8}, Pbad[4] = {2, 8, 7, 7};
    BD py = tens(4, P, 0, 0), pbad = tens(4, Pbad, 0, 0), pidx = NULL; cudnnBackendFinalize(py); cudnnBackendFinalize(pbad);
    BD rf = mk(CUDNN_BACKEND_OPERATION_RESAMPLE_FWD_DESCRIPTOR);
    SETD(rf, CUDNN_ATTR_OPERATION_RESAMPLE_FWD_DESC, rs); SETD(rf, CUDNN_ATTR_OPERATION_RESAMPLE_FWD_XDESC, x); SETD(rf, CUDNN_ATTR_OPERATION_RESAMPLE_FWD_YDESC, py);
    T(cudnnBackendFinalize(rf) /* resample fwd max */);
    BD rfb = mk(CUDNN_BACKEND_OPERATION_RESAMPLE_FWD_DESCRIPTOR);
    SETD(rfb, CUDNN_ATTR_OPERATION_RESAMPLE_FWD_DESC, rs); SETD(rfb, CUDNN_ATTR_OPERATION_RESAMPLE_FWD_XDESC, x); SETD(rfb, CUDNN_ATTR_OPERATION_RESAMPLE_FWD_YDESC, pbad);
    T(cudnnBackendFinalize(rfb) /* resample fwd, wrong Y 7x7 */);
    (void)pidx;
    BD rb = mk(CUDNN_BACKEND_OPERATION_RESAMPLE_BWD_DESCRIPTOR);
    { BD pdy = tens(4, P, 0, 0), pdx = tens(4, X, 0, 0); cudnnBackendFinalize(pdy); cudnnBackendFinalize(pdx);
      SETD(rb, CUDNN_ATTR_OPERATION_RESAMPLE_BWD_DESC, rs); SETD(rb, CUDNN_ATTR_OPERATION_RESAMPLE_BWD_DXDESC, pdx);
      SETD(rb, CUDNN_ATTR_OPERATION_RESAMPLE_BWD_DYDESC, pdy); SETD(rb, CUDNN_ATTR_OPERATION_RESAMPLE_BWD_XDESC, x); SETD(rb, CUDNN_ATTR_OPERATION_RESAMPLE_BWD_YDESC, py);
      T(cudnnBackendFinalize(rb) /* resample bwd max */); }
    /* operation graph without a handle */
    BD g = mk(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    T(cudnnBackendSetAttribute(g, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &fwd));
    T(cudnnBackendFinalize(g) /* opgraph conv fwd, no handle */);
    int64_t ecount = -1, got = 0;
    T(cudnnBackendGetAttribute(g, CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT, CUDNN_TYPE_INT64, 1, &got, &ecount));
    printf("     engine global count %lld\n", (long long)ecount);
    BD g2 = mk(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    BD ops2[2] = {opadd, oprelu};
    cudnnBackendSetAttribute(g2, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 2, ops2);
    T(cudnnBackendFinalize(g2) /* opgraph add+relu, no handle */);
    BD g3 = mk(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    cudnnBackendSetAttribute(g3, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &nf);
    T(cudnnBackendFinalize(g3) /* opgraph norm fwd, no handle */);
    BD g4 = mk(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    cudnnBackendSetAttribute(g4, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &rf);
    T(cudnnBackendFinalize(g4) /* opgraph resample fwd, no handle */);
    /* heuristics without a device */
    BD heur = mk(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
    { cudnnBackendHeurMode_t hm = CUDNN_HEUR_MODE_A;
      T(cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g));
      T(cudnnBackendSetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &hm));
      T(cudnnBackendFinalize(heur) /* engine heuristics, no device */);
      BD cfg = mk(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR); int64_t n = 0;
      T(cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n, &cfg));
      printf("     heuristic results %lld\n", (long long)n); }
    BD dp = mk(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR);
    { int64_t id = 0; T(cudnnBackendSetAttribute(dp, CUDNN_ATTR_DEVICEPROP_DEVICE_ID, CUDNN_TYPE_INT64, 1, &id));
      T(cudnnBackendFinalize(dp) /* device properties of device 0 */); }
    BD eng = mk(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
    { int64_t gi = 0; SETD(eng, CUDNN_ATTR_ENGINE_OPERATION_GRAPH, g);
      cudnnBackendSetAttribute(eng, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &gi);
      T(cudnnBackendFinalize(eng) /* engine 0 of conv fwd graph */); }
    /* every engine of the conv fwd graph; engine config and execution plan of the first that finalizes */
    { int nok = 0, first = -1, arch = 0; char buf[1024] = "";
      for (int64_t gi = 0; gi < ecount; gi++) {
        BD e = mk(CUDNN_BACKEND_ENGINE_DESCRIPTOR); SETD(e, CUDNN_ATTR_ENGINE_OPERATION_GRAPH, g);
        cudnnBackendSetAttribute(e, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &gi);
        cudnnStatus_t s = cudnnBackendFinalize(e);
        if (!s) { nok++; if (first < 0) first = (int)gi; } else { arch += s == CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH; cudnnGetLastErrorString(buf, sizeof buf); }
        cudnnBackendDestroyDescriptor(e);
      }
      printf("     conv fwd graph: %d of %lld engines finalize without a device (first %d); %d refused with ARCH_MISMATCH\n", nok, (long long)ecount, first, arch);
      if (first >= 0) {
        int64_t gi = first; BD e = mk(CUDNN_BACKEND_ENGINE_DESCRIPTOR); SETD(e, CUDNN_ATTR_ENGINE_OPERATION_GRAPH, g);
        cudnnBackendSetAttribute(e, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &gi); cudnnBackendFinalize(e);
        BD ec = mk(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR); SETD(ec, CUDNN_ATTR_ENGINECFG_ENGINE, e);
        T(cudnnBackendFinalize(ec) /* engine config */);
        BD pl = mk(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR); SETD(pl, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, ec);
        T(cudnnBackendFinalize(pl) /* execution plan, no handle */);
        if (h) { SETD(pl, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, h); }
      } }
    { BD dp2 = mk(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR); int32_t id = 0;
      T(cudnnBackendSetAttribute(dp2, CUDNN_ATTR_DEVICEPROP_DEVICE_ID, CUDNN_TYPE_INT32, 1, &id));
      T(cudnnBackendFinalize(dp2) /* device properties of device 0 */);
      BD dp3 = mk(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR); const char *js = "{}";
      T(cudnnBackendSetAttribute(dp3, CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION, CUDNN_TYPE_CHAR, 3, js));
      T(cudnnBackendFinalize(dp3) /* device properties from an empty JSON */); }
    /* BN + relu graph, norm bwd graph, add + relu graph with mismatched shapes */
    { BD yv2 = tens(4, X, 1, 0), yr = tens(4, X, 0, 0), m2 = tens(4, C1, 0, 0), iv2 = tens(4, C1, 0, 0);
      cudnnBackendFinalize(yv2); cudnnBackendFinalize(yr); cudnnBackendFinalize(m2); cudnnBackendFinalize(iv2);
      BD n2 = mk(CUDNN_BACKEND_OPERATION_NORM_FORWARD_DESCRIPTOR); cudnnBackendNormMode_t m = CUDNN_BATCH_NORM; cudnnBackendNormFwdPhase_t ph = CUDNN_NORM_FWD_TRAINING;
      cudnnBackendSetAttribute(n2, CUDNN_ATTR_OPERATION_NORM_FWD_MODE, CUDNN_TYPE_NORM_MODE, 1, &m);
      cudnnBackendSetAttribute(n2, CUDNN_ATTR_OPERATION_NORM_FWD_PHASE, CUDNN_TYPE_NORM_FWD_PHASE, 1, &ph);
      SETD(n2, CUDNN_ATTR_OPERATION_NORM_FWD_XDESC, x); SETD(n2, CUDNN_ATTR_OPERATION_NORM_FWD_MEAN_DESC, m2);
      SETD(n2, CUDNN_ATTR_OPERATION_NORM_FWD_INV_VARIANCE_DESC, iv2); SETD(n2, CUDNN_ATTR_OPERATION_NORM_FWD_SCALE_DESC, sc);
      SETD(n2, CUDNN_ATTR_OPERATION_NORM_FWD_BIAS_DESC, bi); SETD(n2, CUDNN_ATTR_OPERATION_NORM_FWD_EPSILON_DESC, eps);
      SETD(n2, CUDNN_ATTR_OPERATION_NORM_FWD_YDESC, yv2);
      T(cudnnBackendFinalize(n2) /* norm fwd training without running stats */);
      BD r2 = mk(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
      SETD(r2, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pwrelu); SETD(r2, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, yv2); SETD(r2, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, yr);
      T(cudnnBackendFinalize(r2));
      BD gg = mk(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR); BD o[2] = {n2, r2};
      cudnnBackendSetAttribute(gg, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 2, o);
      T(cudnnBackendFinalize(gg) /* opgraph norm fwd + relu */);
      int64_t ec = 0, got = 0; cudnnBackendGetAttribute(gg, CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT, CUDNN_TYPE_INT64, 1, &got, &ec);
      int nok = 0; for (int64_t gi = 0; gi < ec; gi++) { BD e = mk(CUDNN_BACKEND_ENGINE_DESCRIPTOR); SETD(e, CUDNN_ATTR_ENGINE_OPERATION_GRAPH, gg);
        cudnnBackendSetAttribute(e, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &gi); nok += cudnnBackendFinalize(e) == 0; cudnnBackendDestroyDescriptor(e); }
      printf("     norm+relu graph: %d of %lld engines finalize\n", nok, (long long)ec);
      BD g5 = mk(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
      cudnnBackendSetAttribute(g5, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &nb);
      T(cudnnBackendFinalize(g5) /* opgraph norm bwd */);
      BD g6 = mk(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
      cudnnBackendSetAttribute(g6, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &rb);
      T(cudnnBackendFinalize(g6) /* opgraph resample bwd */);
      BD g7 = mk(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR); BD o7[2] = {fwd, opadd};
      cudnnBackendSetAttribute(g7, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 2, o7);
      T(cudnnBackendFinalize(g7) /* opgraph conv fwd + add (y is conv out and add x) */);
      /* pointwise op with mismatched shapes */
      BD xa = tens(4, X, 0, 0), ya = tens(4, Y, 0, 0), za = tens(4, Y, 0, 0); cudnnBackendFinalize(xa); cudnnBackendFinalize(ya); cudnnBackendFinalize(za);
      BD pa = mk(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
      SETD(pa, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pwadd); SETD(pa, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, xa);
      SETD(pa, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, ya); SETD(pa, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, za);
      T(cudnnBackendFinalize(pa) /* pointwise add of [2,8,16,16] and [2,16,8,8] */);
      /* norm fwd with a wrong mean shape */
      int64_t C2[4] = {1, 9, 1, 1}; BD mbad = tens(4, C2, 0, 0); cudnnBackendFinalize(mbad);
      BD n3 = mk(CUDNN_BACKEND_OPERATION_NORM_FORWARD_DESCRIPTOR);
      cudnnBackendSetAttribute(n3, CUDNN_ATTR_OPERATION_NORM_FWD_MODE, CUDNN_TYPE_NORM_MODE, 1, &m);
      cudnnBackendSetAttribute(n3, CUDNN_ATTR_OPERATION_NORM_FWD_PHASE, CUDNN_TYPE_NORM_FWD_PHASE, 1, &ph);
      SETD(n3, CUDNN_ATTR_OPERATION_NORM_FWD_XDESC, x); SETD(n3, CUDNN_ATTR_OPERATION_NORM_FWD_MEAN_DESC, mbad);
      SETD(n3, CUDNN_ATTR_OPERATION_NORM_FWD_INV_VARIANCE_DESC, iv2); SETD(n3, CUDNN_ATTR_OPERATION_NORM_FWD_SCALE_DESC, sc);
      SETD(n3, CUDNN_ATTR_OPERATION_NORM_FWD_BIAS_DESC, bi); SETD(n3, CUDNN_ATTR_OPERATION_NORM_FWD_EPSILON_DESC, eps);
      SETD(n3, CUDNN_ATTR_OPERATION_NORM_FWD_YDESC, yr);
      T(cudnnBackendFinalize(n3) /* norm fwd, mean [1,9,1,1] for C=8 */);
      BD g8 = mk(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
      cudnnBackendSetAttribute(g8, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &n3);
      T(cudnnBackendFinalize(g8) /* opgraph of that */);
      BD g9 = mk(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
      cudnnBackendSetAttribute(g9, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pa);
      T(cudnnBackendFinalize(g9) /* opgraph of the mismatched add */);
    /* deviceless: device properties from a hand-written H100 JSON */
    { const char *js = h100_json; size_t n = strlen(js);
      BD dpj = mk(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR);
      T(cudnnBackendSetAttribute(dpj, CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION, CUDNN_TYPE_CHAR, (int64_t)n + 1, js));
      T(cudnnBackendFinalize(dpj) /* device properties from H100 JSON */);
      BD gs[] = {g, g3, gg, g4, g7, g2};
      const char *gn[] = {"conv fwd", "norm fwd train", "norm fwd + relu", "resample fwd max", "conv fwd + add", "add+relu"};
      for (int k = 0; k < 6; k++) {
        for (int mode = 0; mode < 3; mode++) {
        BD hh = mk(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR); cudnnBackendHeurMode_t hm = mode == 0 ? CUDNN_HEUR_MODE_A : mode == 1 ? CUDNN_HEUR_MODE_B : CUDNN_HEUR_MODE_FALLBACK;
        SETD(hh, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, gs[k]);
        cudnnBackendSetAttribute(hh, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &hm);
        R("heur set DEVICEPROP", SETD(hh, CUDNN_ATTR_ENGINEHEUR_DEVICEPROP, dpj));
        printf("     graph %s, heur mode %d:\n", gn[k], (int)hm);
        R("  heur finalize", cudnnBackendFinalize(hh));
        BD cf[8]; for (int i = 0; i < 8; i++) cf[i] = mk(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
        int64_t nres = 0; R("  heur results", cudnnBackendGetAttribute(hh, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 8, &nres, cf));
        printf("       %lld configs\n", (long long)nres);
        for (int i = 0; i < nres && i < 8; i++) {
          BD pl = mk(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
          SETD(pl, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, cf[i]);
          SETD(pl, CUDNN_ATTR_EXECUTION_PLAN_DEVICEPROP, dpj);
          cudnnStatus_t s = cudnnBackendFinalize(pl); char lb[512] = ""; if (s) cudnnGetLastErrorString(lb, sizeof lb);
          int64_t wsz = -1, cnt = 0; if (!s) cudnnBackendGetAttribute(pl, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &cnt, &wsz);
          printf("       plan %d: %s %s workspace %lld\n", i, cudnnGetErrorString(s), lb, (long long)wsz);
          cudnnBackendDestroyDescriptor(pl);
        }
      }
        int64_t ec = 0, got = 0; cudnnBackendGetAttribute(gs[k], CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT, CUDNN_TYPE_INT64, 1, &got, &ec);
        int ne = 0, nc = 0, np = 0;
        for (int64_t gi = 0; gi < ec; gi++) {
          BD e = mk(CUDNN_BACKEND_ENGINE_DESCRIPTOR); SETD(e, CUDNN_ATTR_ENGINE_OPERATION_GRAPH, gs[k]); SETD(e, CUDNN_ATTR_ENGINE_DEVICEPROP, dpj);
          cudnnBackendSetAttribute(e, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &gi);
          if (cudnnBackendFinalize(e)) { cudnnBackendDestroyDescriptor(e); continue; }
          ne++;
          BD c = mk(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR); SETD(c, CUDNN_ATTR_ENGINECFG_ENGINE, e);
          if (!cudnnBackendFinalize(c)) { nc++;
            BD pl = mk(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR); SETD(pl, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, c); SETD(pl, CUDNN_ATTR_EXECUTION_PLAN_DEVICEPROP, dpj);
            cudnnStatus_t s = cudnnBackendFinalize(pl); np += s == 0;
            if (s && np == 0) { char lb[512] = ""; cudnnGetLastErrorString(lb, sizeof lb); printf("       engine %lld plan: %s %s\n", (long long)gi, cudnnGetErrorString(s), lb); }
            cudnnBackendDestroyDescriptor(pl); }
          cudnnBackendDestroyDescriptor(c); cudnnBackendDestroyDescriptor(e);
        }
        printf("     graph %s: %lld engines, %d finalize with H100 props, %d configs, %d plans\n", gn[k], (long long)ec, ne, nc, np);
      } }
    }
    if (h) T(cudnnDestroy(h));
    printf("---- batch norm and pooling graphs, NCHW and NHWC, against the H100 properties ----\n");
    probe_layouts();
    return 0;
}

/* ---- batch norm and pooling graphs, every engine, with the H100 properties ---- */
static BD mk2(cudnnBackendDescriptorType_t t) { BD d = NULL; cudnnBackendCreateDescriptor(t, &d); return d; }
static int64_t uidc2 = 1;
static BD tens2(const int64_t *dims, int nhwc, int virt, int byval) {
    BD d = mk2(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    int64_t str[4];
    if (nhwc) { str[1] = 1; str[3] = dims[1]; str[2] = dims[3] * dims[1]; str[0] = dims[2] * str[2]; }
    else { str[3] = 1; str[2] = dims[3]; str[1] = dims[2] * dims[3]; str[0] = dims[1] * str[1]; }
    cudnnDataType_t f = CUDNN_DATA_FLOAT; int64_t al = 16, uid = uidc2++; bool v = virt, bv = byval;
    cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f);
    cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims);
    cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, str);
    cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &al);
    if (virt) cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &v);
    if (byval) cudnnBackendSetAttribute(d, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &bv);
    if (cudnnBackendFinalize(d)) printf("tensor finalize failed\n");
    return d;
}
static BD dp2g;
static void try_graph_here(const char *name, int nops, BD *ops);
/* in a child process: an engine config of some graphs crashes inside cuDNN without a device */
static void try_graph(const char *name, int nops, BD *ops) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) { try_graph_here(name, nops, ops); fflush(stdout); _exit(0); }
    int st; waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) printf("CRASH %-40s killed by signal %d (inside cudnnBackendFinalize of an engine config)\n", name, WTERMSIG(st));
}
static void try_graph_here(const char *name, int nops, BD *ops) {
    BD g = mk2(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    cudnnBackendSetAttribute(g, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, nops, ops);
    cudnnStatus_t s = cudnnBackendFinalize(g); char lb[1024] = "";
    if (s) { cudnnGetLastErrorString(lb, sizeof lb); firstline(lb); printf("%-40s graph finalize %s %s\n", name, cudnnGetErrorString(s), lb); return; }
    int64_t ec = 0, got = 0; cudnnBackendGetAttribute(g, CUDNN_ATTR_OPERATIONGRAPH_ENGINE_GLOBAL_COUNT, CUDNN_TYPE_INT64, 1, &got, &ec);
    int ne = 0, nc = 0, np = 0; char firsterr[1024] = "";
    for (int64_t gi = 0; gi < ec; gi++) {
        BD e = mk2(CUDNN_BACKEND_ENGINE_DESCRIPTOR); SETD(e, CUDNN_ATTR_ENGINE_OPERATION_GRAPH, g); SETD(e, CUDNN_ATTR_ENGINE_DEVICEPROP, dp2g);
        cudnnBackendSetAttribute(e, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1, &gi);
        if ((s = cudnnBackendFinalize(e))) { if (!*firsterr) { cudnnGetLastErrorString(lb, sizeof lb); firstline(lb); snprintf(firsterr, sizeof firsterr, "engine %lld: %s %.900s", (long long)gi, cudnnGetErrorString(s), lb); } cudnnBackendDestroyDescriptor(e); continue; }
        ne++;
        BD c = mk2(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR); SETD(c, CUDNN_ATTR_ENGINECFG_ENGINE, e);
        if ((s = cudnnBackendFinalize(c))) { cudnnGetLastErrorString(lb, sizeof lb); firstline(lb); printf("   %s: engine %lld cfg: %s %s\n", name, (long long)gi, cudnnGetErrorString(s), lb); }
        else { nc++;
            BD pl = mk2(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR); SETD(pl, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, c); SETD(pl, CUDNN_ATTR_EXECUTION_PLAN_DEVICEPROP, dp2g);
            s = cudnnBackendFinalize(pl); np += s == 0;
            if (s) { cudnnGetLastErrorString(lb, sizeof lb); firstline(lb); printf("   %s: engine %lld plan: %s %s\n", name, (long long)gi, cudnnGetErrorString(s), lb); }
            cudnnBackendDestroyDescriptor(pl); }
        cudnnBackendDestroyDescriptor(c); cudnnBackendDestroyDescriptor(e);
    }
    BD hh = mk2(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR); cudnnBackendHeurMode_t hm = CUDNN_HEUR_MODE_A;
    SETD(hh, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, g); cudnnBackendSetAttribute(hh, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &hm);
    SETD(hh, CUDNN_ATTR_ENGINEHEUR_DEVICEPROP, dp2g); cudnnBackendFinalize(hh);
    BD cf[4]; for (int i = 0; i < 4; i++) cf[i] = mk2(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    int64_t nres = 0; cudnnBackendGetAttribute(hh, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 4, &nres, cf);
    printf("%-40s %lld engines, %d finalize, %d configs, %d plans; heuristics A: %lld  %s\n", name, (long long)ec, ne, nc, np, (long long)nres, firsterr);
}
static void probe_layouts(void) {
    const char *js = h100_json; size_t n = strlen(js);
    dp2g = mk2(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR);
    cudnnBackendSetAttribute(dp2g, CUDNN_ATTR_DEVICEPROP_JSON_REPRESENTATION, CUDNN_TYPE_CHAR, (int64_t)n + 1, js);
    if (cudnnBackendFinalize(dp2g)) { printf("deviceprop failed\n"); return; }
    for (int nhwc = 0; nhwc < 2; nhwc++) {
        const char *L = nhwc ? "NHWC" : "NCHW"; char nm[64];
        int64_t X[4] = {32, 64, 56, 56}, C1[4] = {1, 64, 1, 1}, S1[4] = {1, 1, 1, 1};
        BD x = tens2(X, nhwc, 0, 0), y = tens2(X, nhwc, 0, 0), yv = tens2(X, nhwc, 1, 0), yr = tens2(X, nhwc, 0, 0);
        BD mean = tens2(C1, nhwc, 0, 0), iv = tens2(C1, nhwc, 0, 0), sc = tens2(C1, nhwc, 0, 0), bi = tens2(C1, nhwc, 0, 0);
        BD rm = tens2(C1, nhwc, 0, 0), rv = tens2(C1, nhwc, 0, 0), rm2 = tens2(C1, nhwc, 0, 0), rv2 = tens2(C1, nhwc, 0, 0);
        BD eps = tens2(S1, nhwc, 0, 1), mom = tens2(S1, nhwc, 0, 1);
        cudnnBackendNormMode_t m = CUDNN_BATCH_NORM;
        for (int variant = 0; variant < 4; variant++) {
            cudnnBackendNormFwdPhase_t ph = variant == 3 ? CUDNN_NORM_FWD_INFERENCE : CUDNN_NORM_FWD_TRAINING;
            BD nf = mk2(CUDNN_BACKEND_OPERATION_NORM_FORWARD_DESCRIPTOR);
            cudnnBackendSetAttribute(nf, CUDNN_ATTR_OPERATION_NORM_FWD_MODE, CUDNN_TYPE_NORM_MODE, 1, &m);
            cudnnBackendSetAttribute(nf, CUDNN_ATTR_OPERATION_NORM_FWD_PHASE, CUDNN_TYPE_NORM_FWD_PHASE, 1, &ph);
            SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_XDESC, x);
            if (variant == 3) { SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_MEAN_DESC, rm); SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_INV_VARIANCE_DESC, rv); }
            else { SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_MEAN_DESC, mean); SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_INV_VARIANCE_DESC, iv); }
            SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_SCALE_DESC, sc); SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_BIAS_DESC, bi);
            SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_EPSILON_DESC, eps);
            if (variant < 3 && variant != 0) {
                SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_EXP_AVG_FACTOR_DESC, mom);
                SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_INPUT_RUNNING_MEAN_DESC, rm); SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_INPUT_RUNNING_VAR_DESC, rv);
                SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_OUTPUT_RUNNING_MEAN_DESC, rm2); SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_OUTPUT_RUNNING_VAR_DESC, rv2);
            }
            BD yy = variant == 2 ? yv : y; SETD(nf, CUDNN_ATTR_OPERATION_NORM_FWD_YDESC, yy);
            cudnnStatus_t s = cudnnBackendFinalize(nf);
            if (s) { char lb[512]; cudnnGetLastErrorString(lb, sizeof lb); firstline(lb); printf("%s norm op %d: %s %s\n", L, variant, cudnnGetErrorString(s), lb); continue; }
            if (variant == 2) {
                BD pw = mk2(CUDNN_BACKEND_POINTWISE_DESCRIPTOR); cudnnPointwiseMode_t pm = CUDNN_POINTWISE_RELU_FWD; cudnnDataType_t fl = CUDNN_DATA_FLOAT;
                cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &pm);
                cudnnBackendSetAttribute(pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &fl); cudnnBackendFinalize(pw);
                BD r = mk2(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
                SETD(r, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pw); SETD(r, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, yv); SETD(r, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, yr);
                cudnnBackendFinalize(r);
                BD ops[2] = {nf, r}; snprintf(nm, sizeof nm, "%s bn train + running + relu", L); try_graph(nm, 2, ops);
            } else {
                snprintf(nm, sizeof nm, "%s bn %s", L, variant == 0 ? "train, no running stats" : variant == 1 ? "train + running stats" : "inference"); try_graph(nm, 1, &nf);
            }
        }
        BD dy = tens2(X, nhwc, 0, 0), dx = tens2(X, nhwc, 0, 0), ds = tens2(C1, nhwc, 0, 0), db = tens2(C1, nhwc, 0, 0);
        BD nb = mk2(CUDNN_BACKEND_OPERATION_NORM_BACKWARD_DESCRIPTOR);
        cudnnBackendSetAttribute(nb, CUDNN_ATTR_OPERATION_NORM_BWD_MODE, CUDNN_TYPE_NORM_MODE, 1, &m);
        SETD(nb, CUDNN_ATTR_OPERATION_NORM_BWD_XDESC, x); SETD(nb, CUDNN_ATTR_OPERATION_NORM_BWD_MEAN_DESC, mean);
        SETD(nb, CUDNN_ATTR_OPERATION_NORM_BWD_INV_VARIANCE_DESC, iv); SETD(nb, CUDNN_ATTR_OPERATION_NORM_BWD_DYDESC, dy);
        SETD(nb, CUDNN_ATTR_OPERATION_NORM_BWD_SCALE_DESC, sc); SETD(nb, CUDNN_ATTR_OPERATION_NORM_BWD_DSCALE_DESC, ds);
        SETD(nb, CUDNN_ATTR_OPERATION_NORM_BWD_DBIAS_DESC, db); SETD(nb, CUDNN_ATTR_OPERATION_NORM_BWD_DXDESC, dx);
        cudnnBackendFinalize(nb); snprintf(nm, sizeof nm, "%s bn bwd", L); try_graph(nm, 1, &nb);
        /* pooling */
        int64_t P[4] = {32, 64, 28, 28};
        for (int mode = 0; mode < 2; mode++) {
            BD rs = mk2(CUDNN_BACKEND_RESAMPLE_DESCRIPTOR);
            cudnnResampleMode_t rm_ = mode ? CUDNN_RESAMPLE_AVGPOOL_INCLUDE_PADDING : CUDNN_RESAMPLE_MAXPOOL; cudnnDataType_t fl = CUDNN_DATA_FLOAT;
            cudnnPaddingMode_t pm = mode ? CUDNN_ZERO_PAD : CUDNN_NEG_INF_PAD; cudnnNanPropagation_t nan = CUDNN_NOT_PROPAGATE_NAN;
            int64_t sd = 2; cudnnFraction_t wi[2] = {{3, 1}, {3, 1}}, st[2] = {{2, 1}, {2, 1}}, p[2] = {{1, 1}, {1, 1}};
            cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_MODE, CUDNN_TYPE_RESAMPLE_MODE, 1, &rm_);
            cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &fl);
            cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_NAN_PROPAGATION, CUDNN_TYPE_NAN_PROPOGATION, 1, &nan);
            cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_PADDING_MODE, CUDNN_TYPE_PADDING_MODE, 1, &pm);
            cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &sd);
            cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_WINDOW_DIMS, CUDNN_TYPE_FRACTION, 2, wi);
            cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_STRIDES, CUDNN_TYPE_FRACTION, 2, st);
            cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_PRE_PADDINGS, CUDNN_TYPE_FRACTION, 2, p);
            cudnnBackendSetAttribute(rs, CUDNN_ATTR_RESAMPLE_POST_PADDINGS, CUDNN_TYPE_FRACTION, 2, p);
            cudnnBackendFinalize(rs);
            BD py = tens2(P, nhwc, 0, 0);
            BD rf = mk2(CUDNN_BACKEND_OPERATION_RESAMPLE_FWD_DESCRIPTOR);
            SETD(rf, CUDNN_ATTR_OPERATION_RESAMPLE_FWD_DESC, rs); SETD(rf, CUDNN_ATTR_OPERATION_RESAMPLE_FWD_XDESC, x); SETD(rf, CUDNN_ATTR_OPERATION_RESAMPLE_FWD_YDESC, py);
            cudnnBackendFinalize(rf); snprintf(nm, sizeof nm, "%s %s fwd", L, mode ? "avgpool" : "maxpool"); try_graph(nm, 1, &rf);
            BD pdy = tens2(P, nhwc, 0, 0), pdx = tens2(X, nhwc, 0, 0);
            BD rb = mk2(CUDNN_BACKEND_OPERATION_RESAMPLE_BWD_DESCRIPTOR);
            SETD(rb, CUDNN_ATTR_OPERATION_RESAMPLE_BWD_DESC, rs); SETD(rb, CUDNN_ATTR_OPERATION_RESAMPLE_BWD_DXDESC, pdx); SETD(rb, CUDNN_ATTR_OPERATION_RESAMPLE_BWD_DYDESC, pdy);
            if (!mode) { SETD(rb, CUDNN_ATTR_OPERATION_RESAMPLE_BWD_XDESC, x); SETD(rb, CUDNN_ATTR_OPERATION_RESAMPLE_BWD_YDESC, py); }
            cudnnStatus_t s = cudnnBackendFinalize(rb);
            if (s) { char lb[512]; cudnnGetLastErrorString(lb, sizeof lb); firstline(lb); printf("%s resample bwd op: %s %s\n", L, cudnnGetErrorString(s), lb); }
            else { snprintf(nm, sizeof nm, "%s %s bwd", L, mode ? "avgpool" : "maxpool"); try_graph(nm, 1, &rb); }
        }
    }
}
