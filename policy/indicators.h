// Built-in cryptominer indicators and the matchers that find them in command lines, env
// values and process arguments. Shared by the admission rules (rules.h) and the node agent
// (process.h) so that both recognise the same things under the same rule ids.
//
// Every built-in list is in indicators.cpp with the public source it came from.
//
// Contract:
// - Indicators::built_in() is compiled once, never destroyed, and is immutable: safe to use
//   from any thread.
// - All matching is linear in the input (RE2, hash sets, single passes); nothing here can be
//   made to backtrack by input.
// - Each find_* appends IndicatorHits; a hit names the token (argv element) where the match
//   starts, so callers can report `args[3]` rather than the whole command line.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "policy/image_match.h"

namespace re2 {
class RE2;
}

namespace orderguard::policy {

// A command line (argv) or one value, kept as tokens. Matching runs over the tokens joined
// with single spaces, so an indicator split over argv elements (`-o` `pool:3333`) is still
// found; the offset of a match maps back to the token it starts in. Words are the shell-like
// words of that text (split on blanks, quotes and ; | & ( ) < > `), which is how a script in
// `sh -c "..."` is read.
class TokenLine {
 public:
  struct Word {
    size_t begin = 0;  // offsets in text()
    size_t end = 0;
    size_t token = 0;
  };

  explicit TokenLine(std::vector<std::string> tokens);
  // The same from views (the admission path reads tokens straight out of the request).
  explicit TokenLine(std::span<const std::string_view> tokens);

  const std::string& text() const { return text_; }
  // text() in ASCII lower case, for the literal prefilters of the matchers.
  const std::string& lower_text() const { return has_upper_ ? lower_ : text_; }
  std::span<const Word> words() const {
    return word_count_ <= kInlineWords ? std::span<const Word>(inline_words_.data(), word_count_)
                                       : std::span<const Word>(words_);
  }
  std::string_view word(const Word& w) const {
    return std::string_view(text_).substr(w.begin, w.end - w.begin);
  }
  // The token that contains text() offset `offset` (the separator after a token counts as
  // that token).
  size_t token_at(size_t offset) const;
  // A set of the kinds of bytes in text() (a bit per letter in either case, one for digits,
  // one each for a few punctuation characters: indicators.cpp). A literal some of whose
  // bits are missing cannot occur in text(), so the matchers skip a substring search, or a
  // whole matcher, on one AND.
  uint64_t char_classes() const { return char_classes_; }

 private:
  void join(std::span<const std::string_view> tokens);  // text_ and starts_; two or more
  void index();  // lower_ and the words, once text_ and starts_ are set
  void add_word(const Word& w);

  // Most texts (an env value, a short command line) have one or two words: they are kept
  // inline, and words_ is used only beyond that (then it holds all of them).
  static constexpr size_t kInlineWords = 2;

  std::string text_;
  std::string lower_;  // only when text_ has upper case letters
  bool has_upper_ = false;
  uint64_t char_classes_ = 0;
  std::vector<size_t> starts_;
  size_t word_count_ = 0;
  std::array<Word, kInlineWords> inline_words_{};
  std::vector<Word> words_;
};

struct IndicatorHit {
  size_t token = 0;      // index of the token (argv element) in the TokenLine
  std::string message;   // readable, with a short excerpt
  std::string evidence;  // the matched text, truncated
};

// Pool domains. An entry matches the host itself and every subdomain (`nanopool.org` matches
// `xmr-eu1.nanopool.org`), never a longer label (`evilnanopool.org`).
class DomainSet {
 public:
  void add(std::string_view domain);
  bool matches(std::string_view host) const;
  size_t size() const { return domains_.size(); }

 private:
  std::unordered_set<std::string> domains_;
};

using PortSet = std::set<int>;

struct MinerBinary {
  std::string_view name;
  // Exact names only match the whole file name; others also match name[-_.]anything
  // (xmrig-6.21.0-linux-x64.tar.gz, xmrig-notls, srbminer-multi).
  bool exact = false;
};

struct DropperFile {
  std::string_view path;  // may end in '*' (prefix) or '/' (a directory)
  std::string_view family;
};

std::span<const MinerBinary> builtin_miner_binaries();
std::span<const std::string_view> builtin_pool_domains();
std::span<const int> builtin_miner_ports();
// Glob patterns (image_match.h) for known miner images and campaign accounts.
std::vector<std::string> builtin_blocked_images();
// Files left by known miner droppers, for the agent's host scanner.
std::span<const DropperFile> known_dropper_files();
// Strings whose base64 forms are searched for (see base64_alignments).
std::span<const std::string_view> base64_keywords();

// The base64 fragments that appear when `key` is encoded at byte offset 0, 1 and 2 of a larger
// text: the characters that depend only on the key's bits. Sigma's list for
// `--donate-level=` is LS1kb25hdGUtbGV2ZWw9, tLWRvbmF0ZS1sZXZlbD, 0tZG9uYXRlLWxldmVsP.
std::vector<std::string> base64_alignments(std::string_view key);
// Standard or URL-safe alphabet, padding optional. nullopt when not base64.
std::optional<std::string> decode_base64(std::string_view text);

class Indicators {
 public:
  static const Indicators& built_in();

  Indicators(const Indicators&) = delete;
  Indicators& operator=(const Indicators&) = delete;
  ~Indicators();

  const DomainSet& pool_domains() const { return pool_domains_; }
  const PortSet& miner_ports() const { return miner_ports_; }
  // The built-in glob (builtin_blocked_images()) that `ref` matches, if any.
  std::optional<std::string> builtin_image_match(const ImageRef& ref) const;

  // stratum://, stratum+tcp://, stratum+ssl://, stratum+tls://, stratum2+tcp://, ...
  void find_stratum_urls(const TokenLine& line, std::vector<IndicatorHit>* out) const;
  // xmrig options (--donate-level, --cpu-priority, --nicehash, --rig-id, ...), mining
  // algorithms after -a/--algo, coins after --coin, -o pool.* or -o host:port with -u,
  // xmrig JSON config keys, MSR write enabling.
  void find_miner_flags(const TokenLine& line, std::vector<IndicatorHit>* out) const;
  // Known miner binaries as any path component of a word (./xmrig, /opt/xmrig/config.json).
  void find_miner_binaries(const TokenLine& line, std::vector<IndicatorHit>* out) const;
  // Host names under a pool domain.
  void find_pool_hosts(const TokenLine& line, const DomainSet& domains,
                       std::vector<IndicatorHit>* out) const;
  // Base64 forms of base64_keywords() in any alignment, and base64 words that decode to text
  // with any other indicator in it.
  void find_base64(const TokenLine& line, const DomainSet& domains,
                   std::vector<IndicatorHit>* out) const;
  // Download-and-run: curl|wget ... | sh, sh -c "$(curl ...)", bash <(curl ...),
  // base64 -d | sh, chmod +x of a file in /tmp, /var/tmp or /dev/shm and running it.
  void find_droppers(const TokenLine& line, std::vector<IndicatorHit>* out) const;
  // Monero addresses: 4 or 8 then 94 base58 characters (106 in all for integrated addresses).
  void find_wallet_addresses(const TokenLine& line, std::vector<IndicatorHit>* out) const;
  // host:port endpoints whose port is in `ports` (loopback and wildcard listen addresses are
  // not endpoints). A listening flag such as `--port 3333` is not reported.
  void find_miner_ports(const TokenLine& line, const PortSet& ports,
                        std::vector<IndicatorHit>* out) const;

  // The miner name when `file_name` (a basename, e.g. of /proc/<pid>/exe) is a miner binary.
  std::optional<std::string_view> miner_binary(std::string_view file_name) const;
  // The same for a comm value, which the kernel truncates to 15 characters.
  std::optional<std::string_view> miner_binary_from_comm(std::string_view comm) const;

 private:
  struct Pattern;
  struct Base64Fragment {
    std::string fragment;
    std::string_view keyword;
  };

  Indicators();
  // Every indicator except base64, over text that came out of a base64 decoder.
  void find_plain(const TokenLine& line, const DomainSet& domains,
                  std::vector<IndicatorHit>* out) const;

  DomainSet pool_domains_;
  PortSet miner_ports_;
  std::vector<ImagePattern> campaign_images_;
  std::array<bool, 256> binary_first_char_{};  // first letters of miner names: a fast reject
  std::vector<Base64Fragment> base64_fragments_;
  // Bits set by the 4-byte windows at the first base64_prefix_stride_ offsets of every
  // base64 fragment: a text without any of them at a multiple of the stride cannot match
  // base64_any_, and most texts have none (the regex costs ~12 instructions per byte, this
  // check ~5 per stride).
  std::array<uint64_t, 1024> base64_prefixes_{};
  size_t base64_prefix_stride_ = 1;
  bool may_have_base64_fragment(std::string_view text) const;
  std::unique_ptr<re2::RE2> stratum_;
  std::unique_ptr<re2::RE2> xmrig_option_;
  std::unique_ptr<re2::RE2> xmrig_config_key_;
  std::unique_ptr<re2::RE2> msr_;
  std::unique_ptr<re2::RE2> host_name_;
  std::unique_ptr<re2::RE2> endpoint_;
  std::unique_ptr<re2::RE2> wallet_;
  std::unique_ptr<re2::RE2> base64_any_;
  std::vector<std::unique_ptr<Pattern>> droppers_;
};

}  // namespace orderguard::policy
