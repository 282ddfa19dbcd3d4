/* driver/main.c - `tgc` entry point: dispatches to the commands, prints version and help. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan/plan.h"
#include "driver/driver.h"

static const char overview[] =
    "usage: tgc <command> [options]\n"
    "\n"
    "tgc compiles MMPretrain-style configs (YAML or MMEngine .py) into a static training plan (plan.bin).\n"
    "\n"
    "commands:\n"
    "  compile CONFIG   build the train and eval graphs, run the passes, write a plan\n"
    "  inspect PLAN     print a plan for people (or --json)\n"
    "  run PLAN         train with a compiled plan on Fashion-MNIST & co. (MMEngine's workflow)\n"
    "  train CONFIG     compile CONFIG in memory, then run it\n"
    "  test PLAN CKPT   evaluate a checkpoint on the test (or val) set, as tools/test.py\n"
    "  bench PLAN       time the train and eval steps on synthetic data\n"
    "  opt FILE         run passes on a module in the IR text form and print it (pass tests)\n"
    "  convert CONFIG   write a config (.py or YAML) as YAML, merged with its bases or alone\n"
    "  export CKPT      write a checkpoint's weights as a PyTorch .pth or safetensors file\n"
    "  det-synth        write the synthetic detection set (Fashion-MNIST items, COCO JSON + PNG)\n"
    "  help COMMAND     usage of one command\n"
    "\n"
    "options:\n"
    "  --version        print the version\n"
    "  --help           print this text\n";

static const char compile_usage[] =
    "usage: tgc compile CONFIG [-o PLAN] [--cfg-options K=V [K=V ...]] [--dump-ir[=PASS]]\n"
    "                   [--disable-pass NAME]... [--print-config] [--target cpu|cuda]\n"
    "                   [--memory-limit BYTES|NKiB|NMiB|NGiB] [--strict] [--amp | --fp16]\n"
    "                   [--layout row|nhwc]\n"
    "\n"
    "Compiles CONFIG into a plan.\n"
    "\n"
    "  -o, --output PLAN        where to write the plan (default: plan.bin)\n"
    "  --cfg-options K=V ...    override config keys (MMEngine's DictAction rules), e.g.\n"
    "                           train_dataloader.batch_size=64 optim_wrapper.optimizer.lr=0.05\n"
    "  --dump-ir[=PASS]         print the IR after PASS (default: after every pass) to stdout\n"
    "  --disable-pass NAME      skip an optional pass (repeatable)\n"
    "  --print-config           print the resolved config as YAML to stdout\n"
    "  --target cpu|cuda        the device the plan is compiled for, and the only one it runs on\n"
    "                           (default: cpu; cuda: 256-byte alignment, a 32 MiB workspace,\n"
    "                           transcendentals such as tanh fused)\n"
    "  --memory-limit SIZE      report whether the plan fits in SIZE per device, and the largest\n"
    "                           train batch that would\n"
    "  --strict                 settings tgc accepts but does not implement (listed in one warning\n"
    "                           otherwise, and by `tgc inspect`) are an error\n"
    "  --amp                    mixed precision as MMPretrain's --amp (optim_wrapper.type=AmpOptimWrapper,\n"
    "                           loss_scale dynamic): conv/matmul in bf16 on the cpu target (float16 has no\n"
    "                           fast CPU path), float16 on cuda; f32 master weights, gradients, optimizer\n"
    "  --fp16                   mixed precision in float16 with dynamic loss scaling (any target)\n"
    "  --layout row|nhwc        the activations' memory layout: nhwc (channels_last) for the convolutions,\n"
    "                           batch norms, poolings and the elementwise ops between them, relayouts at\n"
    "                           the other ops (targets whose kernels take it: cpu); default row\n";

static const char convert_usage[] =
    "usage: tgc convert CONFIG [-o OUT.yaml] [--no-merge] [--cfg-options K=V ...]\n"
    "\n"
    "Writes CONFIG (YAML or an MMEngine .py config, read without Python) as YAML to OUT (default: stdout).\n"
    "\n"
    "  -o, --output OUT       where to write (atomically); - is stdout\n"
    "  --no-merge             the file alone: `_base_` kept as written (a .py file's `_base_.x = v` edits\n"
    "                         become its own keys; relative paths are rewritten for OUT's folder);\n"
    "                         default: merged with its bases, MMDetection 2.x /\n"
    "                         MMClassification 0.x keys translated, as `tgc compile --print-config` shows\n"
    "  --cfg-options K=V ...  override keys of the merged config\n";

static const char inspect_usage[] =
    "usage: tgc inspect PLAN [--json]\n"
    "\n"
    "Loads and validates PLAN and prints its summary, programs, buckets and memory.\n"
    "\n"
    "  --json   one JSON object instead of text\n";

static const char run_usage[] =
    "usage: tgc run PLAN [--work-dir DIR] [--resume [CKPT]] [--amp|--fp16] [--no-validate] [--auto-scale-lr]\n"
    "               [--cfg-options K=V ...] [--no-pin-memory] [--no-persistent-workers] [--max-iters N]\n"
    "               [--device cpu|cuda] [--seed N] [--deterministic] [--profile DIR [--profile-steps N]]\n"
    "               [--nproc N | --gpus N] [--launcher none|pytorch|slurm|mpi] [--strict]\n"
    "\n"
    "Trains with a compiled plan as MMPretrain's tools/train.py does: logs, scalars.json, checkpoints and\n"
    "last_checkpoint in the work dir, validation with the eval program.\n"
    "\n"
    "  --work-dir DIR         where logs and checkpoints go (default: the config's work_dir,\n"
    "                         else ./work_dirs/<config name>)\n"
    "  --resume [CKPT]        continue exactly from CKPT (default: WORK_DIR/last_checkpoint)\n"
    "  --amp, --fp16          mixed precision is compiled into the plan: run checks the plan is one and\n"
    "                         says how to compile one; tgc train compiles with it (see tgc compile)\n"
    "  --no-validate          skip validation\n"
    "  --auto-scale-lr        scale the lr by batch size / auto_scale_lr.base_batch_size\n"
    "  --cfg-options K=V ...  override runtime keys (train_cfg, param_scheduler, default_hooks,\n"
    "                         randomness, *_dataloader.num_workers/sampler/dataset.data_root/indices,\n"
    "                         optim_wrapper.optimizer.lr, ...); graph keys need `tgc compile`\n"
    "  --max-iters N          stop after N iterations in all (saves a checkpoint when save_last)\n"
    "  --device cpu|cuda      where to run (only cpu has an executor so far)\n"
    "  --seed N               the random seed (overrides randomness.seed)\n"
    "  --deterministic        bit-identical results for a fixed thread count\n"
    "  --strict               refuse a plan whose config asks for settings tgc does not implement\n"
    "  --profile DIR          profile steps 2.. (1 warm-up step) and write DIR/rank<R>/: trace.json\n"
    "                         (Chrome trace), op_summary.txt/.json, memory.txt/.json (R = $RANK or 0)\n"
    "  --profile-steps N      steps to profile (default 10)\n"
    "  --nproc N              start N CPU workers on this node (data parallel, Gloo); with NNODES,\n"
    "                         NODE_RANK, MASTER_ADDR (127.0.0.1) and PORT (29500) for several nodes\n"
    "  --gpus N               start N GPU workers on this node (one per GPU, NCCL)\n"
    "  --launcher KIND        this process is one worker of a job started by torchrun (pytorch),\n"
    "                         srun (slurm) or mpirun (mpi): reads their variables as MMEngine does\n"
    "\n"
    "SIGINT/SIGTERM finish the iteration, save iter_N.ckpt and exit with 128 + signal (with several\n"
    "workers: every worker stops after the same iteration). A worker that fails ends the whole job.\n";

static const char train_usage[] =
    "usage: tgc train CONFIG [the options of tgc run] [--layout row|nhwc]\n"
    "\n"
    "Compiles CONFIG in memory (--cfg-options apply to the compile too; --layout as tgc compile's) and\n"
    "trains it as `tgc run`.\n";

static const char test_usage[] =
    "usage: tgc test PLAN CHECKPOINT [--work-dir DIR] [--cfg-options K=V ...] [--device cpu|cuda] [--strict]\n"
    "                [--nproc N | --launcher pytorch|slurm|mpi]\n"
    "\n"
    "Evaluates CHECKPOINT (a tgc checkpoint, a PyTorch .pth or safetensors file: its parameters and\n"
    "buffers, as load_from) with the plan's eval program over test_dataloader and test_evaluator, or\n"
    "val_dataloader and val_evaluator when the config has no test_dataloader, as MMDetection's and\n"
    "MMPretrain's tools/test.py: \"Epoch(test)\" lines, the metrics (Accuracy, or CocoMetric with its\n"
    "summary and bbox_mAP_copypaste line; format_only writes PREFIX.bbox.json). Nothing is trained or\n"
    "saved; the log goes to WORK_DIR/<timestamp>/ as for a run. With --nproc N (MMDetection's dist_test.sh)\n"
    "or --launcher, every worker evaluates its shard and rank 0 evaluates the gathered results once.\n";

static const char bench_usage[] =
    "usage: tgc bench PLAN [--iters N] [--warmup N] [--json] [--profile DIR] [--train-only]\n"
    "\n"
    "Times the train step and the eval step on seeded synthetic inputs (no data loading).\n"
    "\n"
    "  --iters N    timed steps of each program (default 20)\n"
    "  --warmup N   untimed steps first (default 3)\n"
    "  --json       {\"train_img_per_s\": ..., \"eval_img_per_s\": ..., \"threads\": ..., medians ...}\n"
    "  --profile DIR  profile the timed train steps: DIR/rank0/trace.json, op_summary.txt/.json, memory\n"
    "  --train-only the train step alone (the eval program is never run: its time and memory stay out)\n";

static const char opt_usage[] =
    "usage: tgc opt FILE [--pass NAME]... [--from PASS [--disable-pass NAME]...] [--dump-ir[=PASS]]\n"
    "               [--target cpu|cuda] [--amp[=bf16|f16]] [--layout row|nhwc] [-o OUT]\n"
    "\n"
    "Reads a module in the IR text form (graph @train and, optionally, graph @eval, as\n"
    "`tgc compile --dump-ir=PASS` prints them; FILE - is stdin), verifies it, runs passes on it and prints\n"
    "the result in the same form. Errors in the text name FILE:LINE:COL. The text form does not carry the\n"
    "config: bucket caps are PyTorch DDP's defaults and the optimizer pass emits plain SGD.\n"
    "\n"
    "  --pass NAME            run pass NAME (repeatable; in the order given)\n"
    "  --from PASS            run the pipeline from PASS to its end\n"
    "  --disable-pass NAME    with --from: skip an optional pass (repeatable)\n"
    "  --target cpu|cuda      the target whose choices the passes follow (alignment, fusion policy), as\n"
    "                         `tgc compile --target`; default cpu\n"
    "  --dump-ir[=PASS]       print the IR after every pass run (or after PASS), with compile's\n"
    "                         \"// ----- after PASS -----\" headers, instead of the result\n"
    "  --amp[=bf16|f16]       what the amp pass rewrites for (default bf16; without it amp does nothing)\n"
    "  --layout row|nhwc      the module's layout, which the layout pass follows (default: nhwc when a\n"
    "                         value of FILE is nhwc, else row: the layout pass then does nothing)\n"
    "  -o, --output OUT       write to OUT instead of stdout\n"
    "\n"
    "With neither --pass nor --from the module is printed back as read.\n";

static const char export_usage[] =
    "usage: tgc export CKPT -o FILE.pth|FILE.safetensors [--plan PLAN]\n"
    "\n"
    "Writes a tgc checkpoint's parameters and buffers, under their MMPretrain/MMDetection names, as a\n"
    "PyTorch checkpoint ({meta: {cfg}, state_dict}, which torch.load and MMEngine's load_checkpoint read)\n"
    "or a safetensors file. BN's num_batches_tracked is added; optimizer state is left out.\n"
    "\n"
    "  -o, --output FILE   the output; its extension picks the format\n"
    "  --plan PLAN         store PLAN's config (YAML) as meta.cfg (without it, no config is stored)\n";

static const char det_synth_usage[] =
    "usage: tgc det-synth --out DIR [--train N] [--val N] [--size S|HxW] [--portrait F] [--seed K] [--fashion DIR]\n"
    "\n"
    "Writes a detection set in COCO's layout: DIR/annotations/instances_{train,val}.json and\n"
    "DIR/{train,val}/NNNNNN.png. Each S x S canvas holds 1 to 4 Fashion-MNIST items, each scaled by 1 to 3.5\n"
    "and placed with box IoU <= 0.3 against the others; boxes are tight, category ids 1..10 carry\n"
    "Fashion-MNIST's class names. Train items come from the train files, val items from t10k. The same\n"
    "arguments give byte-identical files.\n"
    "\n"
    "  --out DIR       the output folder (created)\n"
    "  --train N       training images (default 2000)\n"
    "  --val N         validation images (default 500)\n"
    "  --size S|HxW    canvas side, or height x width, multiples of 128 (default 256)\n"
    "  --portrait F    with HxW: the fraction F of the images transposed (W x H), evenly spread (default 0)\n"
    "  --seed K        the seed (default 0)\n"
    "  --fashion DIR   the Fashion-MNIST IDX files (default: Debian's /usr/share/datasets/fashion-mnist)\n";

int tgc_usage(const char *command, FILE *f) {
    if (!command) fputs(overview, f);
    else if (!strcmp(command, "compile")) fputs(compile_usage, f);
    else if (!strcmp(command, "inspect")) fputs(inspect_usage, f);
    else if (!strcmp(command, "run")) fputs(run_usage, f);
    else if (!strcmp(command, "train")) fputs(train_usage, f);
    else if (!strcmp(command, "bench")) fputs(bench_usage, f);
    else if (!strcmp(command, "test")) fputs(test_usage, f);
    else if (!strcmp(command, "opt")) fputs(opt_usage, f);
    else if (!strcmp(command, "convert")) fputs(convert_usage, f);
    else if (!strcmp(command, "export")) fputs(export_usage, f);
    else if (!strcmp(command, "det-synth")) fputs(det_synth_usage, f);
    else return -1;
    return 0;
}

int tgc_usage_error(const char *command, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("tgc: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (command) fprintf(stderr, "run 'tgc help %s' for usage\n", command);
    else fputs("run 'tgc --help' for usage\n", stderr);
    return TGC_EXIT_USAGE;
}

/* oneDNN runs on libgomp, whose idle threads spin between parallel regions and starve the data loader's
 * threads on a machine with few cores. libgomp reads OMP_WAIT_POLICY once, when it is loaded (before
 * main), so the commands that execute plans set it and re-execute themselves once. A value the user set
 * is kept. */
static void prefer_passive_omp_threads(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* If the re-exec fails, run on with spinning threads: slower, never wrong. */
}

int main(int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "run") || !strcmp(argv[1], "train") || !strcmp(argv[1], "bench") ||
                      !strcmp(argv[1], "test")))
        prefer_passive_omp_threads(argv);
    if (argc < 2) {
        tgc_usage(NULL, stderr);
        return TGC_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version")) {
        printf("tgc %s (plan format version %d)\n", TGC_VERSION, TGC_PLAN_VERSION);
        return TGC_EXIT_OK;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        tgc_usage(NULL, stdout);
        return TGC_EXIT_OK;
    }
    if (!strcmp(cmd, "help")) {
        if (argc == 2) {
            tgc_usage(NULL, stdout);
            return TGC_EXIT_OK;
        }
        if (argc > 3) return tgc_usage_error(NULL, "help takes one command");
        if (tgc_usage(argv[2], stdout) < 0) return tgc_usage_error(NULL, "unknown command '%s'", argv[2]);
        return TGC_EXIT_OK;
    }
    if (!strcmp(cmd, "compile")) return tgc_cmd_compile(argc - 1, argv + 1);
    if (!strcmp(cmd, "convert")) return tgc_cmd_convert(argc - 1, argv + 1);
    if (!strcmp(cmd, "inspect")) return tgc_cmd_inspect(argc - 1, argv + 1);
    if (!strcmp(cmd, "run")) return tgc_cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "train")) return tgc_cmd_train(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return tgc_cmd_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "test")) return tgc_cmd_test(argc - 1, argv + 1);
    if (!strcmp(cmd, "opt")) return tgc_cmd_opt(argc - 1, argv + 1);
    if (!strcmp(cmd, "export")) return tgc_cmd_export(argc - 1, argv + 1);
    if (!strcmp(cmd, "det-synth")) return tgc_cmd_det_synth(argc - 1, argv + 1);
    if (cmd[0] == '-') return tgc_usage_error(NULL, "unknown option '%s'", cmd);
    return tgc_usage_error(NULL, "unknown command '%s'", cmd);
}
