/* driver/driver.h - the `tgc` command line: commands, their usage text and exit codes. */
#ifndef TGC_DRIVER_H
#define TGC_DRIVER_H

#include <stdio.h>

/* Exit codes: success, an error in the work (bad config, bad plan, I/O), a usage error. */
enum { TGC_EXIT_OK = 0, TGC_EXIT_ERROR = 1, TGC_EXIT_USAGE = 2 };

/* Each command gets its own arguments (argv[0] is the command name). */
int tgc_cmd_compile(int argc, char **argv);
int tgc_cmd_inspect(int argc, char **argv);

/* Usage text of one command (NULL: the overview) to f; returns 0, or -1 for an unknown command. */
int tgc_usage(const char *command, FILE *f);

/* "tgc: <message>" on stderr and the usage hint for the command; returns TGC_EXIT_USAGE. */
int tgc_usage_error(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
