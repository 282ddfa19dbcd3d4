/* driver/main.c - `tgc` entry point: dispatches to the commands, prints version and help. */
#include <stdarg.h>
#include <string.h>

#include "backend/plan.h"
#include "driver/driver.h"

static const char overview[] =
    "usage: tgc <command> [options]\n"
    "\n"
    "tgc compiles MMPretrain-style YAML configs into a static training plan (plan.bin).\n"
    "\n"
    "commands:\n"
    "  compile CONFIG   build the train and eval graphs, run the passes, write a plan\n"
    "  inspect PLAN     print a plan for people (or --json)\n"
    "  help COMMAND     usage of one command\n"
    "\n"
    "options:\n"
    "  --version        print the version\n"
    "  --help           print this text\n";

static const char compile_usage[] =
    "usage: tgc compile CONFIG [-o PLAN] [--cfg-options K=V [K=V ...]] [--dump-ir[=PASS]]\n"
    "                   [--disable-pass NAME]... [--print-config] [--target cpu|cuda]\n"
    "                   [--memory-limit BYTES|NKiB|NMiB|NGiB]\n"
    "\n"
    "Compiles CONFIG into a plan.\n"
    "\n"
    "  -o, --output PLAN        where to write the plan (default: plan.bin)\n"
    "  --cfg-options K=V ...    override config keys (MMEngine's DictAction rules), e.g.\n"
    "                           train_dataloader.batch_size=64 optim_wrapper.optimizer.lr=0.05\n"
    "  --dump-ir[=PASS]         print the IR after PASS (default: after every pass) to stdout\n"
    "  --disable-pass NAME      skip an optional pass (repeatable)\n"
    "  --print-config           print the resolved config as YAML to stdout\n"
    "  --target cpu|cuda        the target the plan is tuned for (default: cpu)\n"
    "  --memory-limit SIZE      report whether the plan fits in SIZE per device, and the largest\n"
    "                           train batch that would\n";

static const char inspect_usage[] =
    "usage: tgc inspect PLAN [--json]\n"
    "\n"
    "Loads and validates PLAN and prints its summary, programs, buckets and memory.\n"
    "\n"
    "  --json   one JSON object instead of text\n";

int tgc_usage(const char *command, FILE *f) {
    if (!command) fputs(overview, f);
    else if (!strcmp(command, "compile")) fputs(compile_usage, f);
    else if (!strcmp(command, "inspect")) fputs(inspect_usage, f);
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

int main(int argc, char **argv) {
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
    if (!strcmp(cmd, "inspect")) return tgc_cmd_inspect(argc - 1, argv + 1);
    if (cmd[0] == '-') return tgc_usage_error(NULL, "unknown option '%s'", cmd);
    return tgc_usage_error(NULL, "unknown command '%s'", cmd);
}
