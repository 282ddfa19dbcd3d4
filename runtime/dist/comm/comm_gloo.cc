// runtime/dist/comm/comm_gloo.cc - the Gloo engine behind runtime/dist/comm/comm.h: a C-callable shim, the project's only C++.
//
// Gloo reports every failure (a peer that closed its socket, a timeout, a bad address) by throwing.
// Each entry point here catches everything and turns it into one tgc_err message naming the rank, so
// no exception ever crosses into C and nothing aborts. Gloo's rendezvous goes through our TCP store
// (StoreAdapter), and its data moves over Gloo's own TCP transport.
#include <net/if.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>

extern "C" {
#include "common/util.h"
#include "runtime/dist/comm/comm_impl.h"
}

namespace {

// Thrown by the adapter with a message that already names the rank, MASTER_ADDR and the key.
struct StoreError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Gloo's rendezvous::Store on top of tgc_store, with every key under "<tag>/".
class StoreAdapter : public gloo::rendezvous::Store {
  public:
    StoreAdapter(tgc_store *s, std::string prefix, double timeout_s)
        : s_(s), prefix_(std::move(prefix)), timeout_s_(timeout_s) {}

    void set(const std::string &key, const std::vector<char> &data) override {
        tgc_err e;
        if (tgc_store_set(s_, (prefix_ + key).c_str(), data.data(), data.size(), &e) < 0)
            throw StoreError(e.msg);
    }

    std::vector<char> get(const std::string &key) override {
        wait({key}, std::chrono::milliseconds(0));
        tgc_err e;
        void *data = nullptr;
        size_t len = 0;
        if (tgc_store_get(s_, (prefix_ + key).c_str(), &data, &len, &e) < 0) throw StoreError(e.msg);
        std::vector<char> out(static_cast<char *>(data), static_cast<char *>(data) + len);
        free(data);
        return out;
    }

    void wait(const std::vector<std::string> &keys) override { wait(keys, std::chrono::milliseconds(0)); }

    void wait(const std::vector<std::string> &keys, const std::chrono::milliseconds &timeout) override {
        std::vector<std::string> full;
        std::vector<const char *> ptrs;
        for (const auto &k : keys) full.push_back(prefix_ + k);
        for (const auto &k : full) ptrs.push_back(k.c_str());
        double t = timeout.count() > 0 ? static_cast<double>(timeout.count()) / 1000.0 : timeout_s_;
        tgc_err e;
        if (tgc_store_wait(s_, ptrs.data(), static_cast<int>(ptrs.size()), t, &e) < 0)
            throw StoreError(e.msg);
    }

  private:
    tgc_store *s_;
    std::string prefix_;
    double timeout_s_;
};

// Gloo writes to its sockets without MSG_NOSIGNAL, so a peer that died turns the next write into
// SIGPIPE, which kills the process before Gloo can throw. Instead of ignoring SIGPIPE process-wide, the
// threads that run Gloo block it: the caller's thread during setup, and the comm thread and Gloo's event
// loop thread, which inherit the mask of the thread that creates them (both are created under this
// guard). A write then fails with EPIPE and Gloo throws. A SIGPIPE left pending on the caller's thread
// by setup is consumed before its mask is restored.
class SigpipeBlock {
  public:
    SigpipeBlock() {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    }
    ~SigpipeBlock() {
        if (!sigismember(&old_, SIGPIPE)) {
            sigset_t pending;
            struct timespec zero = {0, 0};
            if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) sigtimedwait(&pipe_, nullptr, &zero);
        }
        pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }

  private:
    sigset_t pipe_, old_;
};

struct GlooComm {
    std::shared_ptr<gloo::transport::Device> device;
    std::shared_ptr<gloo::rendezvous::Context> context;
    std::chrono::milliseconds timeout{0};
    uint32_t tag = 0; // one per collective, the same sequence on every rank
    int rank = 0, world = 1;
};

// Gloo's messages start with "[file:line] "; people need the reason, so strip the location.
std::string reason(const std::exception &ex) {
    std::string m = ex.what();
    if (!m.empty() && m[0] == '[') {
        size_t end = m.find("] ");
        if (end != std::string::npos) m = m.substr(end + 2);
    }
    return m;
}

int fail_ex(GlooComm *g, const char *what, const std::exception &ex, tgc_err *err) {
    return tgc_fail(err,
                    "rank %d: Gloo %s failed: %s (a peer process exited, or did not join within %g s)",
                    g->rank, what, reason(ex).c_str(),
                    static_cast<double>(g->timeout.count()) / 1000.0);
}

// The reduction Gloo applies pairwise: c = a + b over n floats.
void (*const sum_f32)(void *, const void *, const void *, size_t) = &gloo::sum<float>;

int gloo_allreduce(void *impl, float *buf, size_t n, int average, tgc_err *err) {
    auto *g = static_cast<GlooComm *>(impl);
    try {
        gloo::AllreduceOptions o(g->context);
        o.setOutput(buf, n); // no input: in place
        o.setReduceFunction(sum_f32);
        o.setTag(g->tag++);
        o.setTimeout(g->timeout);
        gloo::allreduce(o);
    } catch (const std::exception &ex) {
        return fail_ex(g, "allreduce", ex, err);
    } catch (...) {
        return tgc_fail(err, "rank %d: Gloo allreduce failed with an unknown error", g->rank);
    }
    if (average) {
        // divide rather than multiply by 1/world, as PyTorch's allreduce-then-div_
        float w = static_cast<float>(g->world);
        for (size_t i = 0; i < n; i++) buf[i] /= w;
    }
    return 0;
}

int gloo_broadcast(void *impl, float *buf, size_t n, int root, tgc_err *err) {
    auto *g = static_cast<GlooComm *>(impl);
    try {
        gloo::BroadcastOptions o(g->context);
        o.setOutput(buf, n);
        o.setRoot(root);
        o.setTag(g->tag++);
        o.setTimeout(g->timeout);
        gloo::broadcast(o);
    } catch (const std::exception &ex) {
        return fail_ex(g, "broadcast", ex, err);
    } catch (...) {
        return tgc_fail(err, "rank %d: Gloo broadcast failed with an unknown error", g->rank);
    }
    return 0;
}

int gloo_barrier(void *impl, tgc_err *err) {
    auto *g = static_cast<GlooComm *>(impl);
    try {
        gloo::BarrierOptions o(g->context);
        o.setTag(g->tag++);
        o.setTimeout(g->timeout);
        gloo::barrier(o);
    } catch (const std::exception &ex) {
        return fail_ex(g, "barrier", ex, err);
    } catch (...) {
        return tgc_fail(err, "rank %d: Gloo barrier failed with an unknown error", g->rank);
    }
    return 0;
}

void gloo_free(void *impl) {
    try {
        delete static_cast<GlooComm *>(impl);
    } catch (...) {
        // a broken pair may throw while closing; there is no one left to tell
    }
}

const tgc_comm_engine_ops gloo_ops = {"gloo", gloo_allreduce, gloo_broadcast, gloo_barrier, gloo_free};

} // namespace

extern "C" tgc_comm *tgc_comm_new_gloo(tgc_store *store, const tgc_comm_opts *opts, tgc_err *err) {
    int rank = tgc_store_rank(store), world = tgc_store_world(store);
    double timeout_s = tgc_comm_timeout(store, opts);
    GlooComm *g = nullptr;
    SigpipeBlock guard; // until the comm thread exists (see SigpipeBlock)
    try {
        gloo::transport::tcp::attr attr;
        char local[256];
        if (opts && opts->iface && opts->iface[0]) {
            // checked here: Gloo's own lookup of a missing interface throws and leaks its getifaddrs list
            if (if_nametoindex(opts->iface) == 0) {
                tgc_fail(err, "rank %d: Gloo setup failed: network interface '%s' does not exist on this "
                         "machine", rank, opts->iface);
                return nullptr;
            }
            attr.iface = opts->iface;
        } else if (opts && opts->host && opts->host[0]) {
            attr.hostname = opts->host;
        } else {
            if (tgc_store_local_addr(store, local, sizeof local, err) < 0) return nullptr;
            attr.hostname = local;
        }
        g = new GlooComm();
        g->rank = rank;
        g->world = world;
        g->timeout = std::chrono::milliseconds(static_cast<long long>(timeout_s * 1000.0));
        g->device = gloo::transport::tcp::CreateDevice(attr);
        g->context = std::make_shared<gloo::rendezvous::Context>(rank, world);
        g->context->setTimeout(g->timeout);
        StoreAdapter adapter(store, std::string(tgc_comm_tag(opts, "gloo")) + "/", timeout_s);
        g->context->connectFullMesh(adapter, g->device);
    } catch (const StoreError &ex) {
        tgc_fail(err, "%s (during Gloo's rendezvous)", ex.what());
        gloo_free(g);
        return nullptr;
    } catch (const std::exception &ex) {
        std::string where = opts && opts->iface && opts->iface[0]  ? std::string("interface ") + opts->iface
                            : opts && opts->host && opts->host[0] ? std::string("address ") + opts->host
                                                                  : "the address that routes to MASTER_ADDR";
        tgc_fail(err, "rank %d: Gloo setup failed: %s (%s)", rank, reason(ex).c_str(), where.c_str());
        gloo_free(g);
        return nullptr;
    } catch (...) {
        tgc_fail(err, "rank %d: Gloo setup failed with an unknown error", rank);
        gloo_free(g);
        return nullptr;
    }
    return tgc_comm_wrap(&gloo_ops, g, rank, world, err);
}
