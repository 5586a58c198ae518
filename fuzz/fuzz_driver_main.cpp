// A libFuzzer-compatible driver for compilers without -fsanitize=fuzzer (g++):
// runs every seed of the corpus through LLVMFuzzerTestOneInput, then mutates
// seeds for a bounded time with a fixed random seed, so a failure is
// reproducible from the printed iteration and the written crash input. Every
// fuzz target of the tree links it (the orderguard_fuzz_driver library; see
// orderguard_fuzz_target in cmake/OrderguardHelpers.cmake).
//
// Mutations: bit flips, byte insertion and deletion, splices of two seeds, and
// JSON-aware swaps that replace one value of a parsed seed with a value from
// another seed or with an edge case (null, "", huge numbers, deep nesting).
// With --dict, also insertion of the dictionary's tokens (one per line, C
// escapes \n \t \r \0 \\ and \xHH decoded, as in a libFuzzer dictionary
// value), which is how text formats (/proc files, crontabs) get their
// separators and odd bytes; without it the mutation sequence for a seed is
// what it always was.
//
// Usage: fuzz_driver <corpus dir> [--seconds N] [--seed S] [--max-iterations N]
//                    [--dict FILE]
// Each input is written to ./fuzz-last-input before it runs, so an abort
// leaves the offending input behind.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using nlohmann::json;

void run(const std::string& input) {
  {
    std::ofstream out("fuzz-last-input", std::ios::binary | std::ios::trunc);
    out << input;
  }
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

void collect_pointers(const json& node, const json::json_pointer& at,
                      std::vector<json::json_pointer>& out) {
  out.push_back(at);
  if (node.is_object()) {
    for (const auto& [k, v] : node.items()) collect_pointers(v, at / k, out);
  } else if (node.is_array()) {
    for (size_t i = 0; i < node.size(); ++i) collect_pointers(node[i], at / i, out);
  }
}

json edge_value(std::mt19937_64& rng) {
  switch (rng() % 12) {
    case 0:
      return nullptr;
    case 1:
      return "";
    case 2:
      return -1;
    case 3:
      return 1e308;
    case 4:
      return json::array();
    case 5:
      return json::object();
    case 6:
      return std::string(70000, 'x');
    case 7: {
      json deep = json::array();
      for (int i = 0; i < 200; ++i) deep = json::array({deep});
      return deep;
    }
    case 8:
      return "stratum+tcp://pool.minexmr.com:4444";
    case 9:
      return "docker.io/library/xmrig@sha256:" + std::string(64, 'a');
    case 10:
      return true;
    default:
      return "UPDATE";
  }
}

// One token per line of a dictionary file: C escapes decoded, surrounding quotes
// (libFuzzer's name="value" form keeps the value) dropped, blank lines and # comments
// skipped.
std::vector<std::string> read_dictionary(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t open = line.find('"');
    const size_t close = line.rfind('"');
    if (open != std::string::npos && close > open) line = line.substr(open + 1, close - open - 1);
    std::string token;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] != '\\' || i + 1 == line.size()) {
        token += line[i];
        continue;
      }
      const char c = line[++i];
      if (c == 'n') {
        token += '\n';
      } else if (c == 't') {
        token += '\t';
      } else if (c == 'r') {
        token += '\r';
      } else if (c == '0') {
        token += '\0';
      } else if (c == 'x' && i + 2 < line.size() &&
                 std::isxdigit(static_cast<unsigned char>(line[i + 1])) &&
                 std::isxdigit(static_cast<unsigned char>(line[i + 2]))) {
        token += static_cast<char>(std::stoi(line.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        token += c;
      }
    }
    if (!token.empty()) out.push_back(std::move(token));
  }
  return out;
}

class Mutator {
 public:
  Mutator(std::vector<std::string> seeds, uint64_t seed, std::vector<std::string> dictionary = {})
      : seeds_(std::move(seeds)), dictionary_(std::move(dictionary)), rng_(seed) {
    for (const auto& s : seeds_) {
      json doc = json::parse(s, nullptr, false);
      if (!doc.is_discarded()) docs_.push_back(std::move(doc));
    }
  }

  std::string next() {
    std::string s = seeds_[rng_() % seeds_.size()];
    const int rounds = 1 + static_cast<int>(rng_() % 4);
    for (int i = 0; i < rounds; ++i) mutate(s);
    return s;
  }

 private:
  void mutate(std::string& s) {
    // The dictionary case only exists with a dictionary, so that the draws (and the inputs a
    // seed gives) stay the same for targets without one.
    const uint64_t cases = dictionary_.empty() ? 6 : 7;
    switch (rng_() % cases) {
      case 0:  // bit flip
        if (!s.empty()) s[rng_() % s.size()] ^= static_cast<char>(1u << (rng_() % 8));
        break;
      case 1: {  // insert bytes, often JSON punctuation
        static constexpr char kBytes[] = "{}[]\",:\\0-e.\xff\xc3 ";
        const size_t n = 1 + rng_() % 4;
        for (size_t i = 0; i < n; ++i) {
          s.insert(s.begin() + static_cast<long>(rng_() % (s.size() + 1)),
                   kBytes[rng_() % (sizeof(kBytes) - 1)]);
        }
        break;
      }
      case 2:  // delete a range
        if (!s.empty()) {
          const size_t at = rng_() % s.size();
          s.erase(at, 1 + rng_() % std::min<size_t>(16, s.size() - at));
        }
        break;
      case 3: {  // splice: a prefix of this one and a suffix of another seed
        const std::string& other = seeds_[rng_() % seeds_.size()];
        s = s.substr(0, rng_() % (s.size() + 1)) + other.substr(rng_() % (other.size() + 1));
        break;
      }
      case 6: {  // insert a dictionary token
        const std::string& token = dictionary_[rng_() % dictionary_.size()];
        s.insert(rng_() % (s.size() + 1), token);
        break;
      }
      default:
        json_swap(s);
        break;
    }
  }

  // Replaces one value of the (parsed) input with a value from another seed or
  // an edge case; keeps the bytes when the input does not parse.
  void json_swap(std::string& s) {
    json doc = json::parse(s, nullptr, false);
    if (doc.is_discarded() || docs_.empty()) return;
    std::vector<json::json_pointer> targets;
    collect_pointers(doc, json::json_pointer(), targets);
    const auto& target = targets[rng_() % targets.size()];
    json value;
    if (rng_() % 2 == 0) {
      const json& donor = docs_[rng_() % docs_.size()];
      std::vector<json::json_pointer> sources;
      collect_pointers(donor, json::json_pointer(), sources);
      value = donor.at(sources[rng_() % sources.size()]);
    } else {
      value = edge_value(rng_);
    }
    if (target.empty()) {
      doc = std::move(value);
    } else {
      doc.at(target) = std::move(value);
    }
    s = doc.dump(-1, ' ', false, json::error_handler_t::replace);
  }

  std::vector<std::string> seeds_;
  std::vector<std::string> dictionary_;
  std::vector<json> docs_;
  std::mt19937_64 rng_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s <corpus dir> [--seconds N] [--seed S] [--max-iterations N] "
                 "[--dict FILE]\n",
                 argv[0]);
    return 2;
  }
  double seconds = 20;
  uint64_t seed = 1;
  uint64_t max_iterations = UINT64_MAX;
  std::vector<std::string> dictionary;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0) {
      seconds = std::stod(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--seed") == 0) {
      seed = std::stoull(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--max-iterations") == 0) {
      max_iterations = std::stoull(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--dict") == 0) {
      dictionary = read_dictionary(argv[i + 1]);
      if (dictionary.empty()) {
        std::fprintf(stderr, "no tokens in dictionary %s\n", argv[i + 1]);
        return 2;
      }
    } else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  std::vector<std::string> seeds;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1])) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());  // deterministic order for a given seed
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    seeds.push_back(buf.str());
    run(seeds.back());
  }
  if (seeds.empty()) {
    std::fprintf(stderr, "no seeds in %s\n", argv[1]);
    return 2;
  }
  std::printf("seeds: %zu passed\n", seeds.size());

  Mutator mutator(seeds, seed, std::move(dictionary));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  uint64_t iterations = 0;
  while (iterations < max_iterations && std::chrono::steady_clock::now() < deadline) {
    run(mutator.next());
    ++iterations;
  }
  std::printf("mutations: %llu inputs, seed %llu, no crash\n",
              static_cast<unsigned long long>(iterations), static_cast<unsigned long long>(seed));
  std::filesystem::remove("fuzz-last-input");
  return 0;
}
