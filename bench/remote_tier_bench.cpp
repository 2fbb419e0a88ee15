// remote_tier_bench: remote hits, the remote tier's read path on loopback, against
// redis-benchmark's GET on the same server, value size, connections and requests in flight, in
// one run (issue 9). Rows per value size:
//   redis-benchmark  GET with -c C -P D/C (C connections, D requests in flight), the ceiling;
//   redis_client     larder's client alone: D coroutines doing get() over C pooled connections;
//   remote_tier      the tier's get(): the client, plus verifying the entry (xxh3 over key and
//                    value) and copying the value out, as a cache's local miss pays.
// Each figure is the median of --repeat runs (default 3), the methods interleaved so that a noisy
// neighbour hurts them alike; the larder rows report the tier's own latency quantiles.
//
// Usage: remote_tier_bench [--sizes 1024,16384,65536] [--keys N] [--seconds S] [--depth D]
//                          [--connections C] [--repeat R]
// Starts its own redis-server on a free loopback port (no persistence) and stops it at the end.
#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <netinet/in.h>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <larder/cache/remote/redis_client.hpp>
#include <larder/cache/remote/remote_tier.hpp>
#include <larder/runtime/runtime.hpp>

#include "bench_arguments.hpp"

namespace {

using namespace larder;
using clock_type = std::chrono::steady_clock;

struct options {
  std::vector<std::size_t> sizes{1024, 16384, 65536};
  std::size_t keys = 1000;
  double seconds = 3;
  std::size_t depth = 32;
  std::size_t connections = 2;
  unsigned repeat = 3;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--sizes" && i + 1 < argc) {
      o.sizes.clear();
      std::stringstream list(argv[++i]);
      for (std::string item; std::getline(list, item, ',');)
        o.sizes.push_back(std::stoul(item));
    } else if (arg == "--keys") {
      o.keys = bench::number_after(i, argc, argv);
    } else if (arg == "--seconds") {
      o.seconds = static_cast<double>(bench::number_after(i, argc, argv));
    } else if (arg == "--depth") {
      o.depth = bench::number_after(i, argc, argv);
    } else if (arg == "--connections") {
      o.connections = bench::number_after(i, argc, argv);
    } else if (arg == "--repeat") {
      o.repeat = static_cast<unsigned>(bench::number_after(i, argc, argv));
    } else {
      std::fprintf(stderr,
                   "usage: remote_tier_bench [--sizes 1024,16384,65536] [--keys N] [--seconds S] "
                   "[--depth D] [--connections C] [--repeat R]\n");
      std::exit(arg == "--help" ? 0 : 2);
    }
  }
  if (o.depth < o.connections || o.connections == 0) {
    std::fprintf(stderr, "--depth must be at least --connections, which must be at least 1\n");
    std::exit(2);
  }
  return o;
}

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
    out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

// A redis-server child on loopback, without persistence.
class server {
 public:
  server() : port_(free_port()) {
    pid_ = ::fork();
    if (pid_ == 0) {
      std::freopen("/dev/null", "w", stdout);
      const std::string port = std::to_string(port_);
      ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    for (int i = 0; i < 500; ++i) {
      if (run("redis-cli -p " + std::to_string(port_) + " PING 2>/dev/null").rfind("PONG", 0) ==
          0) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw std::runtime_error("redis-server did not start");
  }
  ~server() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  std::uint16_t port() const { return port_; }

 private:
  std::uint16_t port_;
  pid_t pid_ = -1;
};

std::string server_version() {
  std::string v = run("redis-server --version | cut -d' ' -f3");
  while (!v.empty() && v.back() == '\n')
    v.pop_back();
  return v;
}

struct figures {
  double ops_per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// redis-benchmark's GET over keys it wrote first with SET of the same size.
figures redis_benchmark(const options& o, std::uint16_t port, std::size_t size) {
  const std::string common = "redis-benchmark -h 127.0.0.1 -p " + std::to_string(port) + " -d " +
                             std::to_string(size) + " -r " + std::to_string(o.keys) + " -c " +
                             std::to_string(o.connections) + " -P " +
                             std::to_string(o.depth / o.connections) + " --csv";
  run(common + " -t set -n " + std::to_string(o.keys * 4) + " 2>/dev/null");
  // As many requests as take about --seconds at a rate measured by a short first run.
  const auto csv_figures = [](const std::string& csv) {
    // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms",
    // "p99_latency_ms","max_latency_ms"
    figures f;
    const auto line = csv.find("\"GET\"");
    if (line == std::string::npos) return f;
    std::vector<double> fields;
    std::stringstream row(csv.substr(line, csv.find('\n', line) - line));
    for (std::string field; std::getline(row, field, ',');) {
      field.erase(std::remove(field.begin(), field.end(), '"'), field.end());
      fields.push_back(std::strtod(field.c_str(), nullptr));
    }
    if (fields.size() >= 7) {
      f.ops_per_second = fields[1];
      f.p50_us = fields[4] * 1000;
      f.p99_us = fields[6] * 1000;
    }
    return f;
  };
  const figures probe = csv_figures(run(common + " -t get -n 20000 2>/dev/null"));
  const auto requests =
      static_cast<std::uint64_t>(std::max(20000.0, probe.ops_per_second * o.seconds));
  return csv_figures(run(common + " -t get -n " + std::to_string(requests) + " 2>/dev/null"));
}

std::string noise(std::size_t n, std::uint64_t seed) {
  std::string s(n, '\0');
  std::uint64_t x = 0x9e3779b97f4a7c15ull * (seed + 1);
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  return s;
}

// `depth` coroutines each calling get(random key index) until `seconds` pass; returns gets per
// second.
template <typename Get>
double drive(runtime& rt, const options& o, Get get) {
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> missing{0};
  const auto deadline = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                                std::chrono::duration<double>(o.seconds));
  std::atomic<std::size_t> running{o.depth};
  const auto start = clock_type::now();
  for (std::size_t w = 0; w < o.depth; ++w) {
    rt.spawn([&, w]() -> asio::awaitable<void> {
      std::minstd_rand random(static_cast<unsigned>(w + 1));
      while (clock_type::now() < deadline) {
        const std::size_t index = random() % o.keys;
        if (!co_await get(index)) missing.fetch_add(1, std::memory_order_relaxed);
        done.fetch_add(1, std::memory_order_relaxed);
      }
      running.fetch_sub(1);
    });
  }
  while (running.load() > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
  if (missing.load() > 0) {
    std::fprintf(stderr, "warning: %llu gets found nothing\n",
                 static_cast<unsigned long long>(missing.load()));
  }
  return static_cast<double>(done.load()) / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  const options o = parse(argc, argv);
  try {
    server redis;
    // One worker thread: redis-benchmark is single-threaded too, and the server needs the other
    // core of a two-core machine.
    runtime rt(runtime_options{.threads = 1});
    std::printf(
        "remote_tier_bench: loopback redis-server %s, %zu keys, %zu in flight over %zu "
        "connection(s), %.0f s per run, median of %u\n\n",
        server_version().c_str(), o.keys, o.depth, o.connections, o.seconds, o.repeat);
    std::printf("%8s  %-16s %12s %10s %9s %9s %8s\n", "size", "method", "gets/s", "MB/s", "p50 us",
                "p99 us", "ratio");
    for (const std::size_t size : o.sizes) {
      remote_tier_options t;
      t.client.seeds = {{"127.0.0.1", redis.port()}};
      t.client.connections_per_node = o.connections;
      t.client.request_timeout = std::chrono::milliseconds(5000);
      t.cache_name = "bench" + std::to_string(size);
      t.chunk_size = std::max<std::uint64_t>(t.chunk_size, size + 4096);
      t.max_publishes_in_flight = 1u << 20;
      auto tier = rt.run(remote_tier::open(rt.executor(), t));
      for (std::size_t k = 0; k < o.keys; ++k) {
        const std::string value = noise(size, k);
        tier->publish("bench/" + std::to_string(k),
                      blob::copy_of(std::as_bytes(std::span(value.data(), value.size()))), {});
      }
      while (tier->stats().publishes + tier->stats().errors < o.keys)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      // The client's own view of the same keys: their Redis names.
      redis_client_options c = t.client;
      auto client = rt.run(redis_client::connect(rt.executor(), c));

      std::vector<double> baseline, baseline_p50, baseline_p99, raw, tiered;
      latency_summary tier_latency;
      for (unsigned r = 0; r < o.repeat; ++r) {
        const figures b = redis_benchmark(o, redis.port(), size);
        baseline.push_back(b.ops_per_second);
        baseline_p50.push_back(b.p50_us);
        baseline_p99.push_back(b.p99_us);
        raw.push_back(drive(rt, o, [&](std::size_t index) -> asio::awaitable<bool> {
          // The tier's Redis names are private to it; a key redis-benchmark wrote
          // ("key:<12 digits>", a value of the same size) costs the client the same to read.
          char name[32];
          std::snprintf(name, sizeof name, "key:%012zu", index);
          co_return (co_await client->get(name)).has_value();
        }));
        tiered.push_back(drive(rt, o, [&](std::size_t index) -> asio::awaitable<bool> {
          const std::string key = "bench/" + std::to_string(index);
          co_return (co_await tier->get(key)).has_value();
        }));
      }
      tier_latency = tier->stats().get_latency;
      const double base = median(baseline);
      const auto row = [&](const char* method, double ops, double p50, double p99) {
        std::printf("%8zu  %-16s %12.0f %10.1f %9.1f %9.1f %7.2fx\n", size, method, ops,
                    ops * static_cast<double>(size) / 1e6, p50, p99, base > 0 ? ops / base : 0);
      };
      row("redis-benchmark", base, median(baseline_p50), median(baseline_p99));
      std::printf("%8zu  %-16s %12.0f %10.1f %9s %9s %7.2fx\n", size, "redis_client", median(raw),
                  median(raw) * static_cast<double>(size) / 1e6, "-", "-",
                  base > 0 ? median(raw) / base : 0);
      row("remote_tier", median(tiered),
          std::chrono::duration<double, std::micro>(tier_latency.p50).count(),
          std::chrono::duration<double, std::micro>(tier_latency.p99).count());
      rt.run(tier->close());
      client->close();
    }
    std::printf(
        "\nratio: gets per second over redis-benchmark's GET in the same run. Latency: "
        "redis-benchmark's own quantiles; the tier's get_latency (its whole life, all "
        "runs).\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "remote_tier_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
