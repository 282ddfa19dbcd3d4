/* driver/driver.h - the `tgc` command line: commands, their usage text and exit codes. */
#ifndef TGC_DRIVER_H
#define TGC_DRIVER_H

#include <stdio.h>

#include "plan/plan.h"
#include "runtime/runner/train.h"

/* Exit codes: success, an error in the work (bad config, bad plan, I/O), a usage error. */
enum { TGC_EXIT_OK = 0, TGC_EXIT_ERROR = 1, TGC_EXIT_USAGE = 2 };

/* Each command gets its own arguments (argv[0] is the command name). */
int tgc_cmd_compile(int argc, char **argv);
int tgc_cmd_inspect(int argc, char **argv);
int tgc_cmd_run(int argc, char **argv);   /* cmd_run.c */
int tgc_cmd_train(int argc, char **argv); /* cmd_train.c */
int tgc_cmd_test(int argc, char **argv);  /* cmd_test.c: evaluate a checkpoint */
int tgc_cmd_bench(int argc, char **argv); /* cmd_bench.c */
int tgc_cmd_opt(int argc, char **argv);   /* cmd_opt.c: IR text -> passes -> IR text */
int tgc_cmd_convert(int argc, char **argv); /* cmd_convert.c: a config (.py or YAML) -> YAML */
int tgc_cmd_export(int argc, char **argv); /* cmd_export.c: a checkpoint's weights -> .pth / .safetensors */
int tgc_cmd_det_synth(int argc, char **argv); /* cmd_det_synth.c: the synthetic detection set */

/* The options `tgc run` and `tgc train` share (cmd_run.c). */
#define TGC_RUN_MAX_OPTIONS 256
typedef struct tgc_run_args {
    const char *input;  /* PLAN (run) or CONFIG (train) */
    tgc_train_opts train;
    const char *options[TGC_RUN_MAX_OPTIONS]; /* --cfg-options items */
    int n_options;
    int no_pin_memory, no_persistent_workers;
    int strict;         /* --strict: refuse a plan with settings accepted but not implemented */
    const char *device; /* "cpu" (default) or "cuda" */
    const char *layout; /* train: --layout row|nhwc (NULL: the target's default); run refuses it */
    /* Several processes (driver/launch.c, runtime/dist/dist.h). */
    const char *verb;     /* "run" or "train": the workers' command */
    int argc;             /* the command's arguments (argv[0] = the command), for the workers' command line */
    char **argv;
    int nproc;            /* --nproc N or --gpus N: start N workers on this node; 0: not given */
    int gpus;             /* the option was --gpus */
    const char *launcher; /* --launcher none|pytorch|slurm|mpi, or NULL */
    int skip[8], n_skip;  /* argv positions of the launch options, left out of the workers' command line */
} tgc_run_args;
/* Parses argv (argv[0] = the command). Returns 0, 1 for --help, or TGC_EXIT_USAGE after printing why. */
int tgc_run_parse_args(const char *command, int argc, char **argv, tgc_run_args *a);
/* Applies --no-pin-memory / --no-persistent-workers, checks --device, trains, and maps the outcome to an
 * exit status (128 + signal when SIGINT/SIGTERM stopped the run). While it trains, the first SIGINT/SIGTERM
 * asks the loop to stop after the iteration (tgc_train_request_stop) and a second ends the process. */
int tgc_run_execute(tgc_plan *p, tgc_run_args *a);
/* run/train's common end: applies the runtime options to a loaded plan, trains, frees p and a. `verb` and
 * `input` name the command for the log ("tgc run plan.bin"). Returns the exit status. */
int tgc_run_loaded(tgc_plan *p, tgc_run_args *a, const char *verb, const char **runtime_options, int n_runtime);

/* --nproc N / --gpus N (driver/launch.c): starts this node's N workers (NNODES, NODE_RANK, MASTER_ADDR,
 * PORT), forwards SIGINT/SIGTERM, ends the job when one fails; returns the job's exit status, or -1 when
 * the job is a single process (the caller trains in this process). */
int tgc_launch_workers(tgc_run_args *a);

/* "--opt VALUE" or "--opt=VALUE" at argv[*i]: 1 and *val (advancing *i past a separate value), -1 when the
 * value is missing, 0 when argv[*i] is another argument (driver/args.c). */
int tgc_opt_value(const char *name, int argc, char **argv, int *i, const char **val);

/* Compiles a config in memory for `target` ("cpu", "cuda") as `tgc compile` does (cmd_compile.c), through
 * the serialized form so the plan's checksum is the one a compiled plan.bin has. Prints the settings
 * accepted but not implemented as one warning; with `strict` they are an error. `layout` is --layout's
 * value ("row", "nhwc"; NULL: the target's default). */
tgc_plan *tgc_compile_config(const char *config, const char *target, const char *const *options, int n_options,
                             int strict, int amp, const char *layout, tgc_err *err);
/* --layout VALUE for target t: its tgc_layout in *out (NULL value: t's default), or -1 with the reason in
 * err (a value other than row/nhwc; nhwc on a target without NHWC kernels, naming it). */
int tgc_layout_option(const char *value, const tgc_target *t, tgc_layout *out, tgc_err *err);
/* The warning listing a plan's settings accepted but not implemented (plan->ignored), to stderr. */
void tgc_report_ignored(const char *text);
/* --amp (fp16 = 0) / --fp16 (fp16 = 1) on a loaded config, as MMPretrain's tools/train.py applies --amp. */
int tgc_amp_options(tgc_cfg *cfg, int fp16, tgc_err *err);

/* Usage text of one command (NULL: the overview) to f; returns 0, or -1 for an unknown command. */
int tgc_usage(const char *command, FILE *f);

/* "tgc: <message>" on stderr and the usage hint for the command; returns TGC_EXIT_USAGE. */
int tgc_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
