/* runtime/profile/profile_write.c - the profiler's dumps: Chrome trace, per-op summary (table and JSON), arena occupancy. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/profile/profile_internal.h"

/* ---- text helpers ------------------------------------------------------------------------------ */

/* Length of the well-formed UTF-8 sequence at c (1 to 4), or 0 (overlong forms and surrogates are
 * accepted: readers take them, and names are for people). */
static int utf8_len(const unsigned char *c) {
    int n = *c < 0x80 ? 1 : (*c & 0xe0) == 0xc0 ? 2 : (*c & 0xf0) == 0xe0 ? 3 : (*c & 0xf8) == 0xf0 ? 4 : 0;
    for (int i = 1; i < n; i++)
        if ((c[i] & 0xc0) != 0x80) return 0;
    return n;
}

/* A JSON string literal (quotes included): control bytes escaped, UTF-8 passed through, a byte that is
 * not UTF-8 written as U+FFFD so that every reader accepts the file. */
static void json_str(tgc_buf *b, const char *s) {
    tgc_buf_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
        if (*c >= 0x80) {
            int n = utf8_len(c);
            if (n == 0) {
                tgc_buf_put(b, "\\ufffd", 6);
            } else {
                tgc_buf_put(b, c, (size_t)n);
                c += n - 1;
            }
        } else if (*c == '"' || *c == '\\') {
            char e[2] = {'\\', (char)*c};
            tgc_buf_put(b, e, 2);
        } else if (*c == '\n' || *c == '\t' || *c == '\r') {
            char e[2] = {'\\', *c == '\n' ? 'n' : *c == '\t' ? 't' : 'r'};
            tgc_buf_put(b, e, 2);
        } else if (*c < 0x20) {
            tgc_buf_printf(b, "\\u%04x", *c);
        } else {
            tgc_buf_put(b, c, 1);
        }
    }
    tgc_buf_put(b, "\"", 1);
}

/* JSON has no NaN or infinity. */
static double fin(double x) { return isfinite(x) ? x : 0.0; }

static const char *op_name(const tgc_plan *plan, int prog, int instr) {
    return tgc_op_table[plan->programs[prog].instr[instr].code].name;
}

/* "k=v k=v" -> JSON members (leading comma each); numbers stay numbers. */
static void json_args(tgc_buf *b, const char *args) {
    const char *s = args;
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        const char *end = strchr(s, ' ');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        char *item = tgc_malloc(len + 1);
        memcpy(item, s, len);
        item[len] = 0;
        char *eq = strchr(item, '=');
        const char *key = "detail", *val = item;
        if (eq && eq != item) {
            *eq = 0;
            key = item;
            val = eq + 1;
        }
        tgc_buf_put(b, ",", 1);
        json_str(b, key);
        tgc_buf_put(b, ":", 1);
        char *num_end = NULL;
        double v = *val ? strtod(val, &num_end) : 0;
        if (*val && num_end && *num_end == 0 && isfinite(v) && strchr("+-.0123456789", *val))
            tgc_buf_printf(b, "%.17g", v);
        else
            json_str(b, val);
        free(item);
        s += len;
    }
}

/* ---- trace.json -------------------------------------------------------------------------------- */

static void write_trace(const tgc_profiler *p, tgc_buf *b) {
    const tgc_plan *plan = p->plan;
    double origin = 0;
    for (int i = 0; i < p->n_ev; i++)
        if (i == 0 || p->ev[i].t0 < origin) origin = p->ev[i].t0;
    int pid = p->rank;
    tgc_buf_printf(b, "{\"traceEvents\":[\n");
    tgc_buf_printf(b, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":0,\"args\":{\"name\":\"rank %d\"}}", pid,
            pid);
    for (int t = 0; t < PROF_TRACK_COUNT; t++) {
        tgc_buf_printf(b, ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":\"%s\"}}", pid,
                t + 1, tgc_prof_track_names[t]);
        tgc_buf_printf(b,
                ",\n{\"name\":\"thread_sort_index\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
                "\"args\":{\"sort_index\":%d}}",
                pid, t + 1, t + 1);
    }
    for (int i = 0; i < p->n_ev; i++) {
        const prof_event *e = &p->ev[i];
        double ts = (e->t0 - origin) * 1e6, dur = (e->t1 - e->t0) * 1e6;
        tgc_buf_printf(b, ",\n{\"name\":");
        if (e->kind == PROF_EV_KERNEL) {
            json_str(b, op_name(plan, e->a, e->b));
            tgc_buf_printf(b, ",\"cat\":\"kernel\"");
        } else if (e->kind == PROF_EV_STEP) {
            tgc_buf_printf(b, "\"step %lld\",\"cat\":\"step\"", (long long)e->step);
        } else {
            json_str(b, p->strs[e->a]);
            tgc_buf_printf(b, ",\"cat\":\"%s\"", tgc_prof_track_names[e->track]);
        }
        tgc_buf_printf(b, ",\"ph\":\"X\",\"ts\":%.3f,\"dur\":%.3f,\"pid\":%d,\"tid\":%d,\"args\":{", fin(ts), fin(dur), pid,
                e->track + 1);
        if (e->kind == PROF_EV_KERNEL) {
            const tgc_instr *in = &plan->programs[e->a].instr[e->b];
            const tgc_cost *c = &p->costs[e->a][e->b];
            tgc_buf_printf(b, "\"instr\":%d,\"program\":", e->b);
            json_str(b, plan->programs[e->a].name);
            if (e->step >= 0) tgc_buf_printf(b, ",\"step\":%lld", (long long)e->step);
            if (in->scope) {
                tgc_buf_printf(b, ",\"scope\":");
                json_str(b, in->scope);
            }
            tgc_buf_printf(b, ",\"flops\":%.0f,\"bytes\":%.0f}}", fin(c->flops), fin(c->bytes));
        } else if (e->kind == PROF_EV_STEP) {
            tgc_buf_printf(b, "\"step\":%lld}}", (long long)e->step);
        } else {
            /* json_args writes members with a leading comma: "track" opens the object for them. */
            tgc_buf_printf(b, "\"track\":\"%s\"", tgc_prof_track_names[e->track]);
            if (e->step >= 0) tgc_buf_printf(b, ",\"step\":%lld", (long long)e->step);
            if (e->b >= 0) json_args(b, p->strs[e->b]);
            tgc_buf_printf(b, "}}");
        }
    }
    tgc_buf_printf(b, "\n],\n\"displayTimeUnit\":\"ms\",\n\"otherData\":{\"rank\":%d,\"steps_profiled\":%d,"
               "\"warmup_steps\":%d,\"events\":%d,\"dropped_events\":%lld,\"max_events\":%d}}\n",
            p->rank, p->steps_recorded, p->lim.warmup_steps, p->n_ev, (long long)p->dropped, p->lim.max_events);
}

/* ---- op_summary ---------------------------------------------------------------------------------- */

typedef struct op_row {
    int prog, code;
    char name[96];
    int64_t calls;
    double total_s, flops, bytes;
} op_row;

static int cmp_row(const void *a, const void *b) {
    const op_row *x = a, *y = b;
    if (x->total_s != y->total_s) return x->total_s > y->total_s ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Rows with at least one call, sorted by total time; returns their count and the kernel time. */
static int summarise(const tgc_profiler *p, op_row **out, double *total_s) {
    const tgc_plan *plan = p->plan;
    int n_slots = plan->n_programs * TGC_OP_COUNT;
    op_row *rows = tgc_calloc((size_t)(n_slots ? n_slots : 1), sizeof(op_row));
    *total_s = 0;
    for (int i = 0; i < p->n_ev; i++) {
        const prof_event *e = &p->ev[i];
        if (e->kind != PROF_EV_KERNEL) continue;
        int code = (int)plan->programs[e->a].instr[e->b].code;
        op_row *r = &rows[e->a * TGC_OP_COUNT + code];
        const tgc_cost *c = &p->costs[e->a][e->b];
        r->calls++;
        r->total_s += e->t1 - e->t0;
        r->flops += c->flops;
        r->bytes += c->bytes;
        *total_s += e->t1 - e->t0;
    }
    int n = 0;
    for (int s = 0; s < n_slots; s++) {
        if (!rows[s].calls) continue;
        op_row r = rows[s];
        r.prog = s / TGC_OP_COUNT;
        r.code = s % TGC_OP_COUNT;
        const char *pn = plan->programs[r.prog].name;
        if (strcmp(pn, "train") == 0) snprintf(r.name, sizeof r.name, "%s", tgc_op_table[r.code].name);
        else snprintf(r.name, sizeof r.name, "%s/%s", pn, tgc_op_table[r.code].name);
        rows[n++] = r;
    }
    qsort(rows, (size_t)n, sizeof(op_row), cmp_row);
    *out = rows;
    return n;
}

/* Per-track totals of the non-compute spans. */
static void track_totals(const tgc_profiler *p, int64_t *count, double *total_s) {
    for (int t = 0; t < PROF_TRACK_COUNT; t++) count[t] = 0, total_s[t] = 0;
    for (int i = 0; i < p->n_ev; i++)
        if (p->ev[i].kind == PROF_EV_SPAN) {
            count[p->ev[i].track]++;
            total_s[p->ev[i].track] += p->ev[i].t1 - p->ev[i].t0;
        }
}

static double gflops(double flops, double s) { return s > 0 ? flops / s / 1e9 : 0; }
static double share(double s, double total) { return total > 0 ? 100.0 * s / total : 0; }

static void write_summary(const tgc_profiler *p, tgc_buf *txt, tgc_buf *js) {
    op_row *rows;
    double total = 0, flops = 0, bytes = 0;
    int64_t calls = 0;
    int n = summarise(p, &rows, &total);
    for (int i = 0; i < n; i++) calls += rows[i].calls, flops += rows[i].flops, bytes += rows[i].bytes;
    int64_t tc[PROF_TRACK_COUNT];
    double ts[PROF_TRACK_COUNT];
    track_totals(p, tc, ts);

    tgc_buf_printf(txt, "# rank %d: %d steps profiled (after %d warm-up), %lld kernel calls, %.3f ms in kernels%s\n",
            p->rank, p->steps_recorded, p->lim.warmup_steps, (long long)calls, total * 1e3,
            p->dropped ? " (event cap reached: some calls dropped)" : "");
    tgc_buf_printf(txt, "%-32s %8s %11s %11s %8s %10s %10s %11s\n", "op", "calls", "total ms", "mean us", "share %", "GFLOP",
            "GFLOP/s", "MB moved");
    for (int i = 0; i < n; i++) {
        const op_row *r = &rows[i];
        tgc_buf_printf(txt, "%-32s %8lld %11.3f %11.2f %8.2f %10.4f %10.2f %11.3f\n", r->name, (long long)r->calls,
                r->total_s * 1e3, r->total_s * 1e6 / (double)r->calls, share(r->total_s, total), r->flops / 1e9,
                gflops(r->flops, r->total_s), r->bytes / 1e6);
    }
    tgc_buf_printf(txt, "%-32s %8lld %11.3f %11s %8.2f %10.4f %10.2f %11.3f\n", "total", (long long)calls, total * 1e3, "",
            n ? 100.0 : 0.0, flops / 1e9, gflops(flops, total), bytes / 1e6);
    for (int t = PROF_TRACK_DATA; t < PROF_TRACK_COUNT; t++)
        if (tc[t])
            tgc_buf_printf(txt, "# track %s: %lld spans, %.3f ms\n", tgc_prof_track_names[t], (long long)tc[t], ts[t] * 1e3);

    tgc_buf_printf(js, "{\"rank\":%d,\"steps_profiled\":%d,\"warmup_steps\":%d,\"dropped_events\":%lld,\n", p->rank,
            p->steps_recorded, p->lim.warmup_steps, (long long)p->dropped);
    tgc_buf_printf(js, "\"total\":{\"calls\":%lld,\"total_ms\":%.6f,\"flops\":%.0f,\"gflop_per_s\":%.4f,\"bytes\":%.0f},\n",
            (long long)calls, total * 1e3, fin(flops), fin(gflops(flops, total)), fin(bytes));
    tgc_buf_printf(js, "\"ops\":[");
    for (int i = 0; i < n; i++) {
        const op_row *r = &rows[i];
        tgc_buf_printf(js, "%s\n{\"op\":", i ? "," : "");
        json_str(js, r->name);
        tgc_buf_printf(js, ",\"program\":");
        json_str(js, p->plan->programs[r->prog].name);
        tgc_buf_printf(js,
                ",\"calls\":%lld,\"total_ms\":%.6f,\"mean_us\":%.4f,\"share_pct\":%.4f,\"flops\":%.0f,"
                "\"gflop\":%.6f,\"gflop_per_s\":%.4f,\"bytes\":%.0f,\"mb_moved\":%.6f}",
                (long long)r->calls, r->total_s * 1e3, r->total_s * 1e6 / (double)r->calls, share(r->total_s, total),
                fin(r->flops), fin(r->flops / 1e9), fin(gflops(r->flops, r->total_s)), fin(r->bytes),
                fin(r->bytes / 1e6));
    }
    tgc_buf_printf(js, "\n],\n\"tracks\":{");
    for (int t = PROF_TRACK_DATA; t < PROF_TRACK_COUNT; t++)
        tgc_buf_printf(js, "%s\"%s\":{\"spans\":%lld,\"total_ms\":%.6f}", t > PROF_TRACK_DATA ? "," : "",
                tgc_prof_track_names[t], (long long)tc[t], ts[t] * 1e3);
    tgc_buf_printf(js, "}}\n");
    free(rows);
}

/* ---- memory ---------------------------------------------------------------------------------------- */

static int write_memory(const tgc_profiler *p, tgc_buf *txt, tgc_buf *js, tgc_err *err) {
    const tgc_plan *plan = p->plan;
    /* The train program first: "the arena over one train step" is what people open the file for. */
    int *order = tgc_malloc(sizeof(int) * (size_t)(plan->n_programs ? plan->n_programs : 1)), n = 0;
    const tgc_program *train = tgc_plan_program(plan, "train");
    if (train) order[n++] = (int)(train - plan->programs);
    for (int i = 0; i < plan->n_programs; i++)
        if (&plan->programs[i] != train) order[n++] = i;
    tgc_buf_printf(js, "{\"rank\":%d,\"arena_bytes\":%llu,\"programs\":[", p->rank,
            (unsigned long long)plan->slab_bytes[TGC_SLAB_ARENA]);
    for (int oi = 0; oi < n; oi++) {
        const tgc_program *pr = &plan->programs[order[oi]];
        tgc_occupancy o;
        if (tgc_profile_occupancy(plan, pr, &o, err) < 0) {
            free(order);
            return -1;
        }
        double arena = (double)o.arena_bytes;
        const char *peak_op = o.peak_instr >= 0 ? op_name(plan, order[oi], o.peak_instr) : "";
        tgc_buf_printf(txt,
                "%s# program %s: arena %.3f MB, planned lower bound %.3f MB, peak live %.3f MB at instruction %d"
                " (%s)\n",
                oi ? "\n" : "", pr->name, arena / 1e6, (double)o.lower_bound_bytes / 1e6, (double)o.peak_bytes / 1e6,
                o.peak_instr, peak_op);
        tgc_buf_printf(txt, "%6s  %-28s %6s %12s %8s  %s\n", "instr", "op", "live", "live MB", "arena %", "scope");
        tgc_buf_printf(js, "%s\n{\"program\":", oi ? "," : "");
        json_str(js, pr->name);
        tgc_buf_printf(js, ",\"n_instr\":%d,\"arena_bytes\":%llu,\"lower_bound_bytes\":%llu,\"peak_bytes\":%llu,"
                    "\"peak_instr\":%d,\"peak_op\":",
                pr->n_instr, (unsigned long long)o.arena_bytes, (unsigned long long)o.lower_bound_bytes,
                (unsigned long long)o.peak_bytes, o.peak_instr);
        json_str(js, peak_op);
        tgc_buf_printf(js, ",\"occupancy\":[");
        for (int k = 0; k < pr->n_instr; k++) {
            const tgc_instr *in = &pr->instr[k];
            tgc_buf_printf(txt, "%6d  %-28s %6d %12.3f %8.2f  %s\n", k, op_name(plan, order[oi], k), o.live_tensors[k],
                    (double)o.live_bytes[k] / 1e6, arena > 0 ? 100.0 * (double)o.live_bytes[k] / arena : 0.0,
                    in->scope ? in->scope : "");
            tgc_buf_printf(js, "%s\n{\"instr\":%d,\"op\":\"%s\",\"live_tensors\":%d,\"live_bytes\":%llu", k ? "," : "", k,
                    op_name(plan, order[oi], k), o.live_tensors[k], (unsigned long long)o.live_bytes[k]);
            if (in->scope) {
                tgc_buf_printf(js, ",\"scope\":");
                json_str(js, in->scope);
            }
            tgc_buf_printf(js, "}");
        }
        tgc_buf_printf(js, "]}");
        tgc_occupancy_free(&o);
    }
    tgc_buf_printf(js, "\n]}\n");
    free(order);
    return 0;
}

/* ---- files ----------------------------------------------------------------------------------------- */

/* mkdir -p: every component of path, existing directories accepted. */
static int make_dirs(const char *path, tgc_err *err) {
    char *s = tgc_strdup(path);
    size_t len = strlen(s);
    for (size_t i = 1; i <= len; i++) {
        if (s[i] != '/' && s[i] != 0) continue;
        char c = s[i];
        s[i] = 0;
        struct stat st;
        if (mkdir(s, 0777) != 0 && !(errno == EEXIST && stat(s, &st) == 0 && S_ISDIR(st.st_mode))) {
            int e = errno;
            tgc_fail(err, "profile: cannot create directory %s: %s", s, strerror(e == EEXIST ? ENOTDIR : e));
            free(s);
            return -1;
        }
        s[i] = c;
    }
    free(s);
    return 0;
}

static int put_file(const char *dir, const char *name, tgc_buf *b, tgc_err *err) {
    char *path = tgc_asprintf("%s/%s", dir, name);
    int rc = tgc_write_file_atomic(path, b->data ? (const void *)b->data : "", b->len, err);
    free(path);
    tgc_buf_free(b);
    return rc;
}

int tgc_profiler_write(const tgc_profiler *p, const char *dir, tgc_err *err) {
    if (!dir || !*dir) return tgc_fail(err, "profile: no output directory");
    char *rdir = tgc_asprintf("%s/rank%d", dir, p->rank);
    int rc = make_dirs(rdir, err);
    tgc_buf b1 = {0}, b2 = {0};
    if (rc == 0) {
        write_trace(p, &b1);
        rc = put_file(rdir, "trace.json", &b1, err);
    }
    if (rc == 0) {
        write_summary(p, &b1, &b2);
        rc = put_file(rdir, "op_summary.txt", &b1, err);
        if (rc == 0) rc = put_file(rdir, "op_summary.json", &b2, err);
    }
    if (rc == 0) {
        tgc_buf_free(&b1);
        tgc_buf_free(&b2);
        rc = write_memory(p, &b1, &b2, err);
        if (rc == 0) rc = put_file(rdir, "memory.txt", &b1, err);
        if (rc == 0) rc = put_file(rdir, "memory.json", &b2, err);
    }
    tgc_buf_free(&b1);
    tgc_buf_free(&b2);
    free(rdir);
    return rc;
}
