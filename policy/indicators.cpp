#include "policy/indicators.h"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "base/base64.h"
#include "base/log.h"
#include "base/text.h"
#include "policy/finding.h"

namespace orderguard::policy {
namespace {

// Miner binaries.
// - falcosecurity/rules falco-sandbox_rules.yaml, list miner_binaries (from XPAV, 2026-02).
// - Kinsing (kinsing, kdevtmpfsi), kworkerds family, XPAV fake kernel threads (kthreaddk,
//   kerberods), competitor-kill lists (kthrotlds, sustse), 8220 Gang (pwnrig): public
//   incident write-ups of those campaigns.
// - Dero miner binaries: KubeArmor policy harden-crypto-miners.
// Names that are also ordinary words or products are exact-only.
constexpr MinerBinary kMinerBinaries[] = {
    {"xmrig"},
    {"xmr-stak"},
    {"minerd"},
    {"minergate"},
    {"cpuminer"},
    {"ccminer"},
    {"ethminer"},
    {"cgminer"},
    {"bfgminer"},
    {"sgminer"},
    {"claymore", true},
    {"nbminer"},
    {"t-rex", true},
    {"gminer", true},
    {"lolminer"},
    {"phoenixminer"},
    {"teamredminer"},
    {"nanominer"},
    {"bminer", true},
    {"wildrig", true},
    {"srbminer"},
    {"nheqminer"},
    {"kinsing"},
    {"kdevtmpfsi"},
    {"kworkerds"},
    {"kworkerds3", true},
    {"kworkerdssx", true},
    {"kthreaddk", true},
    {"kerberods", true},
    {"kthrotlds", true},
    {"sustse", true},
    {"pwnrig"},
    {"dero-miner-linux-amd64", true},
    {"derod-linux-amd64", true},
    {"dero-wallet-cli-linux-amd64", true},
};

// Pool domains; each matches itself and its subdomains.
// - falcosecurity/rules falco-sandbox_rules.yaml: miner_domains, https_miner_domains,
//   http_miner_domains (the latter two are subsets of the first).
// - Pool operators whose every subdomain is a pool endpoint: chainguard-dev/malcontent
//   rules/impact/cryptojacking/generic.yara (c3pool, f2pool, hashvault, monerohash,
//   moneropool, xmrpool, supportxmr, minergate), published pool lists
//   (moneroocean, nicehash, mining-dutch, xmrpool.eu, crypto-pool.fr), the Cuckoo
//   cryptopool_domains signature, and xmrig's default donate pool (donate.v2.xmrig.com).
constexpr std::string_view kPoolDomains[] = {
    // Falco miner_domains.
    "asia1.ethpool.org",
    "ca.minexmr.com",
    "cn.stratum.slushpool.com",
    "de.minexmr.com",
    "eth-ar.dwarfpool.com",
    "eth-asia.dwarfpool.com",
    "eth-asia1.nanopool.org",
    "eth-au.dwarfpool.com",
    "eth-au1.nanopool.org",
    "eth-br.dwarfpool.com",
    "eth-cn.dwarfpool.com",
    "eth-cn2.dwarfpool.com",
    "eth-eu.dwarfpool.com",
    "eth-eu1.nanopool.org",
    "eth-eu2.nanopool.org",
    "eth-hk.dwarfpool.com",
    "eth-jp1.nanopool.org",
    "eth-ru.dwarfpool.com",
    "eth-ru2.dwarfpool.com",
    "eth-sg.dwarfpool.com",
    "eth-us-east1.nanopool.org",
    "eth-us-west1.nanopool.org",
    "eth-us.dwarfpool.com",
    "eth-us2.dwarfpool.com",
    "eu.stratum.slushpool.com",
    "eu1.ethermine.org",
    "eu1.ethpool.org",
    "fr.minexmr.com",
    "mine.moneropool.com",
    "mine.xmrpool.net",
    "pool.minexmr.com",
    "pool.monero.hashvault.pro",
    "pool.supportxmr.com",
    "sg.minexmr.com",
    "sg.stratum.slushpool.com",
    "stratum-eth.antpool.com",
    "stratum-ltc.antpool.com",
    "stratum-zec.antpool.com",
    "stratum.antpool.com",
    "us-east.stratum.slushpool.com",
    "us1.ethermine.org",
    "us1.ethpool.org",
    "us2.ethermine.org",
    "us2.ethpool.org",
    "xmr-asia1.nanopool.org",
    "xmr-au1.nanopool.org",
    "xmr-eu1.nanopool.org",
    "xmr-eu2.nanopool.org",
    "xmr-jp1.nanopool.org",
    "xmr-us-east1.nanopool.org",
    "xmr-us-west1.nanopool.org",
    "xmr.crypto-pool.fr",
    "xmr.pool.minergate.com",
    "rx.unmineable.com",
    "ss.antpool.com",
    "dash.antpool.com",
    "eth.antpool.com",
    "zec.antpool.com",
    "xmc.antpool.com",
    "btm.antpool.com",
    "stratum-dash.antpool.com",
    "stratum-xmc.antpool.com",
    "stratum-btm.antpool.com",
    // Pool operators (all subdomains).
    "nanopool.org",
    "minexmr.com",
    "supportxmr.com",
    "hashvault.pro",
    "moneroocean.stream",
    "nicehash.com",
    "f2pool.com",
    "mining-dutch.nl",
    "unmineable.com",
    "c3pool.com",
    "c3pool.org",
    "ethermine.org",
    "ethpool.org",
    "dwarfpool.com",
    "antpool.com",
    "slushpool.com",
    "minergate.com",
    "xmrpool.eu",
    "xmrpool.net",
    "crypto-pool.fr",
    "moneropool.com",
    "monerohash.com",
    "2miners.com",
    "herominers.com",
    "poolto.be",
    "xminingpool.com",
    "prohash.net",
    "crypto-pools.org",
    "hashinvest.net",
    "ppxxmr.com",
    "opmoner.com",
    "backup-pool.com",
    // xmrig donation pools.
    "donate.v2.xmrig.com",
    "donate.ssl.xmrig.com",
};

// Falco's miner_ports without the ports every cluster uses for ordinary services (25, 8000,
// 8001, 8008, 8080, 8118, 8888, 8899, 9999): Falco itself uses the list as a hint, not a
// verdict, and an endpoint such as backend:8080 is in half the pods of a cluster.
// Added: 10128 and 20128 (the ports of gulf.moneroocean.stream).
constexpr int kMinerPorts[] = {3333,  3334,  3335,  3336,  3357,  4444, 5555, 5556,
                               5588,  5730,  6099,  6666,  7777,  7778, 8333, 9332,
                               10128, 14433, 14444, 20128, 45560, 45700};

// Docker Hub accounts and images of known cryptojacking campaigns (security vendors'
// reports): docker123321 (Kromtech 2018), ddsfdfsaadfs/dfsdf (Microsoft 2020),
// alpineos and sandeep078 (TeamTNT, Trend Micro 2021), vibersastra (Sysdig 2022), thanhtudo,
// thieunutre and chanquaa (Aqua), kazutod/tene (2025).
constexpr std::string_view kCampaignImages[] = {
    "docker.io/docker123321/*", "docker.io/ddsfdfsaadfs/dfsdf", "docker.io/alpineos/*",
    "docker.io/sandeep078/*",   "docker.io/vibersastra/*",      "docker.io/thanhtudo/*",
    "docker.io/thieunutre/*",   "docker.io/chanquaa/*",         "docker.io/kazutod/tene",
};

// Sources: the cleanup list of incident-response guides for miner-infected servers, the kworkerds
// and watchdogs write-ups (MRdoulestar/whatMiner), Kinsing reports, and the artifacts that
// competitor-killer scripts look for.
constexpr DropperFile kDropperFiles[] = {
    {"/tmp/kworkerds*", "kworkerds"},
    {"/var/tmp/kworkerds*", "kworkerds"},
    {"/tmp/1.so", "kworkerds"},
    {"/var/tmp/1.so", "kworkerds"},
    {"/tmp/wc.conf", "kworkerds"},
    {"/var/tmp/wc.conf", "kworkerds"},
    {"/usr/local/lib/libntp.so", "kworkerds"},
    {"/etc/init.d/kworker", "kworkerds"},
    {"/bin/httpdns", "kworkerds"},
    {"/tmp/.tmph", "kworkerds"},
    {"/usr/local/lib/libs.so", "libs.so dropper"},
    {"/usr/sbin/watchdogs", "watchdogs"},
    {"/etc/init.d/watchdogs", "watchdogs"},
    {"/usr/local/lib/libioset.so", "watchdogs"},
    {"/tmp/kdevtmpfsi", "kinsing"},
    {"/tmp/kinsing", "kinsing"},
    {"/var/tmp/kinsing", "kinsing"},
    {"/etc/kinsing", "kinsing"},
    {"/etc/libsystem.so", "kinsing"},
    {"/var/tmp/xmrig", "competitor-kill lists"},
    {"/var/tmp/f41", "competitor-kill lists"},
    {"/var/tmp/sustse*", "competitor-kill lists"},
    {"/var/tmp/moneroocean/", "competitor-kill lists"},
    {"/var/tmp/nadezhda.*", "competitor-kill lists"},
    {"/var/tmp/systemctI", "competitor-kill lists"},
    {"/tmp/kthrotlds", "competitor-kill lists"},
    {"/etc/rc.d/init.d/kthrotlds", "competitor-kill lists"},
    {"/tmp/.sysbabyuuuuu12", "competitor-kill lists"},
    {"/tmp/miner.sh", "competitor-kill lists"},
    {"/usr/bin/TeamTNT/", "TeamTNT"},
    {"/opt/.systemd-service.sh", "competitor-kill lists"},
    {"/usr/lib/systemd/systemd-update-daily", "competitor-kill lists"},
};

// Strings whose base64 forms are searched for. Sigma proc_creation_lnx_crypto_mining.yml
// lists --donate-level=, stratum+tcp:// and stratum+udp://; each keyword here covers every
// string that contains it (stratum+ covers all stratum+<transport>:// schemes).
constexpr std::string_view kBase64Keywords[] = {
    "stratum+",   "stratum2+", "donate-level", "cpu-priority", "xmrig",       "xmr-stak",
    "kdevtmpfsi", "kinsing",   "supportxmr",   "nanopool",     "moneroocean", "cryptonight",
};

// xmrig command-line options that no ordinary program uses (xmrig src/core/config/usage.h;
// Sigma lists --cpu-priority and --donate-level).
constexpr std::string_view kXmrigOptions =
    "donate-level|donate-over-proxy|cpu-priority|max-cpu-usage|cpu-max-threads-hint|nicehash|"
    "rig-id|randomx-1gb-pages|randomx-mode|randomx-wrmsr|randomx-no-rdmsr|randomx-init|"
    "randomx-no-numa|randomx-cache-qos|huge-pages-jit";

// Values of -a/--algo that are mining algorithms (xmrig, SRBMiner, lolMiner, T-Rex option
// docs). Prefixes: rx/0, cn/r, cn-heavy/xhv, argon2/chukwa all match.
constexpr std::string_view kAlgorithmPrefixes[] = {
    "rx/",     "cn/",      "cn-",      "cryptonight", "argon2/",    "randomx",    "astrobwt",
    "kawpow",  "ethash",   "etchash",  "autolykos",   "ghostrider", "kheavyhash", "heavyhash",
    "octopus", "beamhash", "equihash", "cuckatoo",    "cuckaroo",   "progpow",    "firopow",
    "x16r",    "x25x",     "lyra2",    "yescrypt",    "yespower",   "verushash",  "sha256d",
};

// Values of --coin (xmrig --coin and common multi-coin miners).
constexpr std::string_view kCoins[] = {
    "monero",    "xmr",     "wownero", "wow",   "arqma", "dero",       "zephyr", "zeph",
    "ravencoin", "rvn",     "keva",    "ergo",  "erg",   "kaspa",      "kas",    "raptoreum",
    "rtm",       "conceal", "ccx",     "haven", "xhv",   "turtlecoin", "trtl",   "etc",
    "ethereum",  "eth",     "beam",    "grin",  "neoxa", "firo",       "zano",   "salvium",
};

constexpr size_t kEvidenceMax = 120;
constexpr size_t kExcerptMax = 60;
// Base64 words shorter than this rarely hide a command; longer ones are decoded.
constexpr size_t kBase64WordMin = 16;
constexpr size_t kBase64WordMax = 64 * 1024;

std::string lowercase(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// ASCII case-insensitive comparisons; `lower` is lowercase.
char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool starts_with_icase(std::string_view s, std::string_view lower) {
  if (s.size() < lower.size()) return false;
  for (size_t i = 0; i < lower.size(); ++i) {
    if (ascii_lower(s[i]) != lower[i]) return false;
  }
  return true;
}

// Whether some ':' is followed by a run of 1 to 5 digits whose value is in `ports`: the
// endpoint regex reports a port only as such a run (`:[0-9]{1,5}\b` cannot end between two
// digits), so a text without one has nothing to report and skips the regex.
bool has_port_candidate(std::string_view text, const PortSet& ports) {
  for (size_t pos = text.find(':'); pos != std::string_view::npos; pos = text.find(':', pos + 1)) {
    size_t end = pos + 1;
    int port = 0;
    while (end < text.size() && end - pos <= 6 && text[end] >= '0' && text[end] <= '9') {
      port = port * 10 + (text[end] - '0');
      ++end;
    }
    const size_t digits = end - pos - 1;
    if (digits >= 1 && digits <= 5 && ports.count(port) > 0) return true;
  }
  return false;
}

// The first letters of kXmrigOptions (all lower case), derived from the list so that an
// option added to it is never skipped by the prefilter below.
constexpr std::array<bool, 256> xmrig_option_starts() {
  std::array<bool, 256> out{};
  bool at_start = true;
  for (const char c : kXmrigOptions) {
    if (at_start) out[static_cast<unsigned char>(c)] = true;
    at_start = c == '|';
  }
  return out;
}
constexpr std::array<bool, 256> kXmrigOptionStarts = xmrig_option_starts();

// Whether `text` has "--" followed by a letter that starts one of kXmrigOptions (in either
// case, as the option regex is case-insensitive): the regex needs one.
bool has_xmrig_option_start(std::string_view text) {
  for (size_t pos = text.find("--"); pos != std::string_view::npos;
       pos = text.find("--", pos + 1)) {
    if (pos + 2 >= text.size()) break;
    const char c = ascii_lower(text[pos + 2]);
    if (kXmrigOptionStarts[static_cast<unsigned char>(c)]) return true;
  }
  return false;
}

// A table, not a switch: TokenLine::index() asks for every byte of every text.
constexpr std::array<bool, 256> kWordSeparators = [] {
  std::array<bool, 256> t{};
  for (unsigned char c : std::string_view(" \t\n\r\v\f;|&()<>`\"'")) t[c] = true;
  return t;
}();

// Where find_miner_binaries splits a word into the names it checks: one lookup per
// character instead of four comparisons.
constexpr std::array<bool, 256> kPathSeparators = [] {
  std::array<bool, 256> t{};
  for (unsigned char c : std::string_view("/:,=")) t[c] = true;
  return t;
}();

bool is_word_separator(char c) { return kWordSeparators[static_cast<unsigned char>(c)]; }

// TokenLine::char_classes(): bit i for the letter 'a' + i in either case, then digits, a few
// punctuation characters the literal prefilters name, and upper case (for lower_text()).
constexpr uint64_t kDigitClass = uint64_t{1} << 26;
constexpr uint64_t kUpperClass = uint64_t{1} << 27;
constexpr std::string_view kPunctuationClasses = "-\".:_/=|$";  // bits 28 and up

constexpr std::array<uint64_t, 256> kCharClasses = [] {
  std::array<uint64_t, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = uint64_t{1} << (c - 'a');
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = (uint64_t{1} << (c - 'A')) | kUpperClass;
  for (int c = '0'; c <= '9'; ++c) t[c] = kDigitClass;
  for (size_t i = 0; i < kPunctuationClasses.size(); ++i) {
    t[static_cast<unsigned char>(kPunctuationClasses[i])] = uint64_t{1} << (28 + i);
  }
  return t;
}();

// The classes a text must have to contain `literal` (bytes outside the classes add none).
constexpr uint64_t classes_of(std::string_view literal) {
  uint64_t bits = 0;
  for (char c : literal) bits |= kCharClasses[static_cast<unsigned char>(c)];
  return bits & ~kUpperClass;
}

// Whether `line` may contain `literal` (ASCII case-insensitively for letters): false only
// when it cannot.
bool may_contain(const TokenLine& line, uint64_t literal_classes) {
  return (line.char_classes() & literal_classes) == literal_classes;
}

std::string quoted_excerpt(std::string_view s) {
  return "\"" + truncate_utf8(s, kExcerptMax) + "\"";
}

std::unique_ptr<RE2> compile_builtin(std::string_view pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_unique<RE2>(pattern, options);
  if (!re->ok()) {
    // The built-in patterns are constants: failing to compile one is a bug, not bad input.
    log::error("built-in indicator pattern does not compile",
               {{"pattern", std::string(pattern)}, {"error", re->error()}});
    std::abort();
  }
  return re;
}

// Calls f(offset, match) for every non-overlapping match of capture group `group` (0 = the
// whole match) of `re` in `text`.
template <typename F>
void for_each_match(const RE2& re, std::string_view text, int group, F f) {
  std::array<re2::StringPiece, 4> groups;
  size_t pos = 0;
  while (pos <= text.size() &&
         re.Match(text, pos, text.size(), RE2::UNANCHORED, groups.data(), group + 1)) {
    const re2::StringPiece& m = groups[group];
    if (m.data() == nullptr) {
      pos = static_cast<size_t>(groups[0].data() - text.data()) + groups[0].size() + 1;
      continue;
    }
    size_t at = static_cast<size_t>(m.data() - text.data());
    f(at, std::string_view(m.data(), m.size()));
    // Resume at the end of the reported group, not of the whole match: a boundary character
    // after it may be the leading boundary of the next match (--nicehash --rig-id).
    pos = std::max(at + m.size(), pos + 1);
  }
}

// host:port where the port is 1-5 digits; used for -o values.
bool is_endpoint(std::string_view value) {
  size_t colon = value.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == value.size()) return false;
  std::string_view port = value.substr(colon + 1);
  while (!port.empty() && port.back() == '/') port.remove_suffix(1);
  if (port.empty() || port.size() > 5) return false;
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  return value.substr(0, colon).find('/') == std::string_view::npos;
}

std::string_view strip_scheme(std::string_view v) {
  size_t scheme = v.find("://");
  return scheme == std::string_view::npos ? v : v.substr(scheme + 3);
}

bool is_mining_algorithm(std::string_view value) {
  std::string v = lowercase(value);
  return std::any_of(std::begin(kAlgorithmPrefixes), std::end(kAlgorithmPrefixes),
                     [&](std::string_view p) { return starts_with(v, p); });
}

bool is_coin(std::string_view value) {
  std::string v = lowercase(value);
  return std::find(std::begin(kCoins), std::end(kCoins), v) != std::end(kCoins);
}

}  // namespace

struct Indicators::Pattern {
  std::unique_ptr<RE2> re;
  std::string_view message;
};

// TokenLine ----------------------------------------------------------------------------------

TokenLine::TokenLine(std::vector<std::string> tokens) {
  if (tokens.size() == 1) {
    // One token: keep its string (token_at() is 0 everywhere with starts_ empty).
    text_ = std::move(tokens[0]);
    index();
    return;
  }
  const std::vector<std::string_view> views(tokens.begin(), tokens.end());
  join(views);
  index();
}

TokenLine::TokenLine(std::span<const std::string_view> tokens)
    // One token (an env value, most texts): constructed as a copy, not assigned into an
    // empty string, which is dearer.
    : text_(tokens.size() == 1 ? tokens[0] : std::string_view()) {
  if (tokens.size() != 1) join(tokens);
  index();
}

void TokenLine::join(std::span<const std::string_view> tokens) {
  size_t size = tokens.size();
  for (std::string_view t : tokens) size += t.size();
  text_.reserve(size);
  starts_.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i > 0) text_ += ' ';
    starts_.push_back(text_.size());
    text_ += tokens[i];
  }
}

void TokenLine::index() {
  // Words start in increasing order, so their token is found by walking starts_ along. The
  // same pass collects the character classes.
  uint64_t classes = 0;
  size_t token = 0;
  const size_t n = text_.size();
  const char* t = text_.data();
  size_t i = 0;
  while (i < n) {
    for (; i < n && is_word_separator(t[i]); ++i) {
      classes |= kCharClasses[static_cast<unsigned char>(t[i])];
    }
    const size_t begin = i;
    for (; i < n && !is_word_separator(t[i]); ++i) {
      classes |= kCharClasses[static_cast<unsigned char>(t[i])];
    }
    if (i == begin) continue;
    while (token + 1 < starts_.size() && starts_[token + 1] <= begin) ++token;
    add_word(Word{begin, i, token});
  }
  char_classes_ = classes;
  if ((classes & kUpperClass) != 0) {
    lower_ = lowercase(text_);
    has_upper_ = true;
  }
}

void TokenLine::add_word(const Word& w) {
  if (word_count_ < kInlineWords) {
    inline_words_[word_count_++] = w;
    return;
  }
  if (word_count_ == kInlineWords) {
    words_.reserve(4 * kInlineWords);
    words_.assign(inline_words_.begin(), inline_words_.end());
  }
  words_.push_back(w);
  ++word_count_;
}

size_t TokenLine::token_at(size_t offset) const {
  if (starts_.empty()) return 0;
  auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
  return static_cast<size_t>(it - starts_.begin()) - (it == starts_.begin() ? 0 : 1);
}

// DomainSet ----------------------------------------------------------------------------------

void DomainSet::add(std::string_view domain) {
  std::string d = lowercase(domain);
  while (!d.empty() && d.back() == '.') d.pop_back();
  if (!d.empty()) domains_.insert(std::move(d));
}

bool DomainSet::matches(std::string_view host) const {
  if (domains_.empty()) return false;
  std::string h = lowercase(host);
  while (!h.empty() && h.back() == '.') h.pop_back();
  std::string_view rest = h;
  // Try the host, then each parent at a label boundary: a.b.c, b.c, c.
  while (!rest.empty()) {
    if (domains_.count(std::string(rest)) > 0) return true;
    size_t dot = rest.find('.');
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  return false;
}

// Lists --------------------------------------------------------------------------------------

std::span<const MinerBinary> builtin_miner_binaries() { return kMinerBinaries; }
std::span<const std::string_view> builtin_pool_domains() { return kPoolDomains; }
std::span<const int> builtin_miner_ports() { return kMinerPorts; }
std::span<const DropperFile> known_dropper_files() { return kDropperFiles; }
std::span<const std::string_view> base64_keywords() { return kBase64Keywords; }

std::vector<std::string> builtin_blocked_images() {
  std::vector<std::string> out;
  for (const MinerBinary& b : kMinerBinaries) {
    out.push_back("**/" + std::string(b.name));
    if (!b.exact) out.push_back("**/" + std::string(b.name) + "-*");
  }
  for (std::string_view image : kCampaignImages) out.emplace_back(image);
  return out;
}

// Base64 -------------------------------------------------------------------------------------

std::vector<std::string> base64_alignments(std::string_view key) {
  std::vector<std::string> out;
  for (size_t offset = 0; offset < 3; ++offset) {
    std::string buffer(offset, '\0');
    buffer += key;
    std::string encoded = base64_encode(buffer);
    // Character i carries bits [6i, 6i+6); the key occupies bits [8*offset, 8*(offset+len)).
    size_t first = (8 * offset + 5) / 6;
    size_t last = 8 * (offset + key.size()) / 6;
    if (last > first) out.push_back(encoded.substr(first, last - first));
  }
  return out;
}

namespace {

// 16 bits of the first 4 bytes at p (base64 fragments are at least 5 characters long).
uint32_t prefix_hash(const char* p) {
  uint32_t x;
  std::memcpy(&x, p, 4);
  return (x * 2654435761u) >> 16;
}

// Sets the bits of the 4-byte windows of `fragment` at offsets [0, stride): a text scanned
// every `stride` bytes has one of them wherever the fragment occurs (see
// may_have_base64_fragment).
void set_prefix_bits(std::string_view fragment, size_t stride, std::array<uint64_t, 1024>* bits) {
  for (size_t offset = 0; offset < stride; ++offset) {
    const uint32_t h = prefix_hash(fragment.data() + offset);
    (*bits)[h >> 6] |= uint64_t{1} << (h & 63);
  }
}

}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  std::string out;
  if (!base64_decode_scan(text, /*printable_only=*/false, &out)) return std::nullopt;
  return out;
}

// Indicators ---------------------------------------------------------------------------------

const Indicators& Indicators::built_in() {
  // Never destroyed: avoids destruction-order problems with threads still matching at exit.
  static const Indicators* const kBuiltIn = new Indicators();
  return *kBuiltIn;
}

Indicators::~Indicators() = default;

Indicators::Indicators() {
  for (std::string_view d : kPoolDomains) pool_domains_.add(d);
  miner_ports_.insert(std::begin(kMinerPorts), std::end(kMinerPorts));
  for (std::string_view glob : kCampaignImages) {
    Result<ImagePattern> p = ImagePattern::compile(glob);
    if (!p.ok()) {
      log::error("built-in image pattern does not compile", {{"pattern", std::string(glob)}});
      std::abort();
    }
    campaign_images_.push_back(std::move(p).value());
  }
  for (const MinerBinary& b : kMinerBinaries) {
    binary_first_char_[static_cast<unsigned char>(b.name.front())] = true;
  }

  stratum_ = compile_builtin(R"((?i)\bstratum[0-9]*(?:\+[a-z0-9]+)*://[^\s'"]*)");
  xmrig_option_ = compile_builtin("(?i)(?:^|[\\s\"'=,;:(\\[{])(--(?:" + std::string(kXmrigOptions) +
                                  "))(?:[\\s\"'=,;)\\]}]|$)");
  xmrig_config_key_ = compile_builtin(
      R"re("(donate-level|donate-over-proxy|rig-id|max-threads-hint|huge-pages-jit|randomx)"\s*:)re");
  msr_ = compile_builtin(
      R"((?i)\bmodprobe\s+msr\b|\ballow_writes=on\b|/sys/module/msr/parameters/allow_writes)");
  host_name_ = compile_builtin(
      R"((?i)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+)");
  endpoint_ =
      compile_builtin(R"((?i)([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:]+\]):([0-9]{1,5})\b)");
  wallet_ = compile_builtin(
      "(?:^|[^1-9A-HJ-NP-Za-km-z])([48][1-9A-HJ-NP-Za-km-z]{94}(?:[1-9A-HJ-NP-Za-km-z]{11})?)"
      "(?:[^1-9A-HJ-NP-Za-km-z]|$)");

  std::string alternation;
  for (std::string_view keyword : kBase64Keywords) {
    for (std::string& fragment : base64_alignments(keyword)) {
      if (!alternation.empty()) alternation += '|';
      alternation += RE2::QuoteMeta(fragment);
      base64_fragments_.push_back(Base64Fragment{std::move(fragment), keyword});
    }
  }
  // A fragment of m >= 4 bytes at any offset p covers a window at a multiple of
  // stride = m - 3 within its first `stride` offsets (the next multiple q of stride after p
  // has q - p <= m - 4, so q + 4 <= p + m).
  size_t shortest = SIZE_MAX;
  for (const Base64Fragment& f : base64_fragments_)
    shortest = std::min(shortest, f.fragment.size());
  if (shortest < 4) {
    base64_prefix_stride_ = 1;
    base64_prefixes_.fill(~uint64_t{0});  // a short fragment could start anywhere: no filter
  } else {
    base64_prefix_stride_ = shortest - 3;
    for (const Base64Fragment& f : base64_fragments_) {
      set_prefix_bits(f.fragment, base64_prefix_stride_, &base64_prefixes_);
    }
  }
  base64_any_ = compile_builtin(alternation);

  // Download-and-run droppers (as in kinsing's
  // `wget -q -O - http://.../spr.sh | sh`, watchdogs' `(curl -fsSL ...||wget -q -O- ...)|
  // base64 -d|sh`, the brief's chmod +x && ./ from /tmp). `sh` is bounded by \b so
  // shasum, sha256sum and shuf are not shells.
  constexpr std::string_view kShell = R"((?:sudo\s+)?(?:/usr)?(?:/bin/)?(?:ba|da|z|k|a)?sh\b)";
  constexpr std::string_view kTemp = R"((?:/tmp|/var/tmp|/dev/shm)/)";
  constexpr std::string_view kChmodX =
      R"(chmod\s+(?:[ugoa]*\+[rwx]*x[rwx]*|0?[0-7]?[1357][0-7]{2})\s+)";
  auto add = [&](std::string pattern, std::string_view message) {
    droppers_.push_back(std::make_unique<Pattern>(Pattern{compile_builtin(pattern), message}));
  };
  add(R"((?i)\b(?:curl|wget|fetch)\b[^;\n]*?\|\s*)" + std::string(kShell),
      "download piped to a shell");
  add(R"((?i)\b(?:ba|da|z|k)?sh\s+(?:-c\s+)?["']?\$\(\s*(?:curl|wget)\b)",
      "shell runs a downloaded script");
  add(R"((?i)\b(?:ba|da|z|k)?sh\s+<\(\s*(?:curl|wget)\b)", "shell runs a downloaded script");
  add(R"((?i)\bbase64\s+(?:-d|--decode|-D)\b[^;\n]*?\|\s*)" + std::string(kShell),
      "base64-decoded text piped to a shell");
  add("(?i)" + std::string(kChmodX) + R"((?:\S+\s+)*?)" + std::string(kTemp) + R"([^\s;&|]+)",
      "executable dropped in a temporary directory");
  add(R"((?i)\bcd\s+(?:/tmp|/var/tmp|/dev/shm)\b[^\n]*?)" + std::string(kChmodX) +
          R"(\S+[^\n]*?(?:&&|;)\s*(?:nohup\s+)?\./\S+)",
      "executable dropped in a temporary directory");
  add(R"((?i)\b(?:curl|wget)\b[^;\n]*?\s)" + std::string(kTemp) +
          R"([^\s;&|]+[^\n]*?(?:&&|;)\s*(?:nohup\s+)?(?:(?:ba|da)?sh\s+)?)" + std::string(kTemp),
      "download to a temporary directory, then run");
}

std::optional<std::string> Indicators::builtin_image_match(const ImageRef& ref) const {
  // Equivalent to matching the **/<name> and **/<name>-* globs of builtin_blocked_images(),
  // without running one regex per name.
  std::string_view repo = ref.repository();
  // Every name match starts with the name's first letter: most repositories (shop/orders,
  // envoyproxy/envoy) start with a letter no miner name starts with, and skip the loop.
  if (!repo.empty() && binary_first_char_[static_cast<unsigned char>(repo.front())]) {
    for (const MinerBinary& b : kMinerBinaries) {
      if (repo.front() != b.name.front()) continue;
      if (repo == b.name) return "**/" + std::string(b.name);
      if (!b.exact && repo.size() > b.name.size() + 1 && starts_with(repo, b.name) &&
          repo[b.name.size()] == '-') {
        return "**/" + std::string(b.name) + "-*";
      }
    }
  }
  for (const ImagePattern& p : campaign_images_) {
    if (p.matches(ref)) return p.source();
  }
  return std::nullopt;
}

void Indicators::find_stratum_urls(const TokenLine& line, std::vector<IndicatorHit>* out) const {
  static constexpr uint64_t kStratum = classes_of("stratum");
  if (!may_contain(line, kStratum) || line.lower_text().find("stratum") == std::string::npos) {
    return;
  }
  for_each_match(*stratum_, line.text(), 0, [&](size_t at, std::string_view m) {
    out->push_back({line.token_at(at), "stratum mining URL " + quoted_excerpt(m),
                    truncate_utf8(m, kEvidenceMax)});
  });
}

void Indicators::find_miner_flags(const TokenLine& line, std::vector<IndicatorHit>* out) const {
  const std::string& text = line.text();
  // Literal prefilters: most text cannot match, and a substring search is far cheaper than a
  // regex pass.
  static constexpr uint64_t kDash = classes_of("-");
  static constexpr uint64_t kQuote = classes_of("\"");
  static constexpr uint64_t kMsr = classes_of("msr");
  static constexpr uint64_t kAllowWrites = classes_of("allow_writes");
  // Every word the loops below look at starts with '-'.
  const bool dash = may_contain(line, kDash);
  if (dash && has_xmrig_option_start(text)) {
    for_each_match(*xmrig_option_, text, 1, [&](size_t at, std::string_view m) {
      out->push_back({line.token_at(at), "xmrig option " + lowercase(m), std::string(m)});
    });
  }
  if (may_contain(line, kQuote)) {  // the one bit is exactly the byte
    for_each_match(*xmrig_config_key_, text, 1, [&](size_t at, std::string_view m) {
      out->push_back(
          {line.token_at(at), "xmrig config key \"" + std::string(m) + "\"", std::string(m)});
    });
  }
  const std::string& lower = line.lower_text();
  if ((may_contain(line, kMsr) && lower.find("msr") != std::string::npos) ||
      (may_contain(line, kAllowWrites) && lower.find("allow_writes") != std::string::npos)) {
    for_each_match(*msr_, text, 0, [&](size_t at, std::string_view m) {
      out->push_back({line.token_at(at), "enables MSR writes (xmrig RandomX tuning)",
                      truncate_utf8(m, kEvidenceMax)});
    });
  }

  // Flags whose value makes them a miner's: -a/--algo <algorithm>, --coin <coin>,
  // -o/--url pool.* or -o/--url host:port together with -u/--user/-O/--userpass.
  if (!dash) return;
  const auto words = line.words();
  bool has_user = false;
  for (const auto& w : words) {
    std::string_view s = line.word(w);
    if (s.size() < 2 || s[0] != '-') continue;  // every form below starts with '-'
    if (s == "-u" || s == "-O" || s == "--user" || s == "--userpass" || starts_with(s, "--user=") ||
        starts_with(s, "--userpass=")) {
      has_user = true;
      break;
    }
  }
  for (size_t i = 0; i < words.size(); ++i) {
    std::string_view word = line.word(words[i]);
    std::string_view flag = word;
    std::string_view value;
    bool has_value = false;
    if (starts_with(word, "--")) {
      size_t eq = word.find('=');
      if (eq != std::string_view::npos) {
        flag = word.substr(0, eq);
        value = word.substr(eq + 1);
        has_value = true;
      }
    }
    // Only -a, -o (2), --url (5), --algo and --coin (6) are looked at: skip the rest
    // before lowercasing.
    if (flag.size() < 2 || flag.size() > 6 || flag[0] != '-') continue;
    std::string name = lowercase(flag);
    if (name != "-a" && name != "--algo" && name != "--coin" && name != "-o" && name != "--url") {
      continue;
    }
    if (!has_value) {
      if (i + 1 >= words.size()) continue;
      value = line.word(words[i + 1]);
    }
    std::string evidence = truncate_utf8(
        has_value ? std::string(word) : std::string(word) + " " + std::string(value), kEvidenceMax);
    size_t token = words[i].token;
    if ((name == "-a" || name == "--algo") && is_mining_algorithm(value)) {
      out->push_back({token, "mining algorithm " + quoted_excerpt(value), evidence});
    } else if (name == "--coin" && is_coin(value)) {
      out->push_back({token, "mined coin " + quoted_excerpt(value), evidence});
    } else if (name == "-o" || name == "--url") {
      std::string_view target = strip_scheme(value);
      if (starts_with(lowercase(target), "pool.")) {
        out->push_back({token, "pool URL " + quoted_excerpt(value), evidence});
      } else if (is_endpoint(target) && has_user) {
        out->push_back(
            {token, "pool endpoint " + quoted_excerpt(value) + " with a wallet user", evidence});
      }
    }
  }
}

std::optional<std::string_view> Indicators::miner_binary(std::string_view file_name) const {
  if (file_name.size() < 5) return std::nullopt;  // the shortest names are 5 characters
  unsigned char first = static_cast<unsigned char>(file_name.front());
  if (first >= 'A' && first <= 'Z') first = first - 'A' + 'a';
  if (!binary_first_char_[first]) return std::nullopt;
  for (const MinerBinary& b : kMinerBinaries) {
    if (static_cast<char>(first) != b.name.front() || !starts_with_icase(file_name, b.name)) {
      continue;
    }
    if (file_name.size() == b.name.size()) return b.name;
    if (!b.exact && file_name.size() > b.name.size() + 1) {
      char next = file_name[b.name.size()];
      if (next == '-' || next == '_' || next == '.') return b.name;
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> Indicators::miner_binary_from_comm(std::string_view comm) const {
  if (auto name = miner_binary(comm)) return name;
  // The kernel keeps 15 characters of a task name: a 15-character comm may be a prefix.
  constexpr size_t kCommMax = 15;
  if (comm.size() != kCommMax) return std::nullopt;
  std::string c = lowercase(comm);
  for (const MinerBinary& b : kMinerBinaries) {
    if (b.name.size() > kCommMax && starts_with(b.name, c)) return b.name;
  }
  return std::nullopt;
}

void Indicators::find_miner_binaries(const TokenLine& line, std::vector<IndicatorHit>* out) const {
  // A line that lacks a letter of every miner name names none of them (miner_binary compares
  // ASCII case-insensitively, as the classes do): most lines, at one AND per name. A name
  // whose classes include another's adds nothing to the test (cgminer's include gminer's)
  // and is left out: 35 names, 22 tests.
  struct NameClasses {
    std::array<uint64_t, std::size(kMinerBinaries)> classes{};
    size_t size = 0;
  };
  static constexpr NameClasses kNameClasses = [] {
    NameClasses minimal;
    for (size_t i = 0; i < std::size(kMinerBinaries); ++i) {
      const uint64_t c = classes_of(kMinerBinaries[i].name);
      bool covered = false;  // by a name with fewer classes, or the same ones earlier
      for (size_t j = 0; j < std::size(kMinerBinaries) && !covered; ++j) {
        const uint64_t other = classes_of(kMinerBinaries[j].name);
        covered = j != i && (other & c) == other && (other != c || j < i);
      }
      if (!covered) minimal.classes[minimal.size++] = c;
    }
    return minimal;
  }();
  if (std::none_of(kNameClasses.classes.begin(), kNameClasses.classes.begin() + kNameClasses.size,
                   [&](uint64_t c) { return may_contain(line, c); })) {
    return;
  }
  for (const auto& w : line.words()) {
    std::string_view word = line.word(w);
    // Every path component, so /opt/xmrig/config.json and URLs of release archives count;
    // ':', ',' and '=' also separate (PATH=/a:/opt/xmrig, --config=xmrig.json).
    size_t start = 0;
    while (start <= word.size()) {
      size_t sep = start;
      while (sep < word.size() && !kPathSeparators[static_cast<unsigned char>(word[sep])]) ++sep;
      if (sep == word.size()) sep = std::string_view::npos;
      if (auto name = miner_binary(word.substr(start, sep - start))) {
        out->push_back({w.token, "known miner binary \"" + std::string(*name) + "\"",
                        truncate_utf8(word, kEvidenceMax)});
        break;
      }
      if (sep == std::string_view::npos) break;
      start = sep + 1;
    }
  }
}

void Indicators::find_pool_hosts(const TokenLine& line, const DomainSet& domains,
                                 std::vector<IndicatorHit>* out) const {
  static constexpr uint64_t kDot = classes_of(".");
  if (domains.size() == 0 || !may_contain(line, kDot)) return;
  for_each_match(*host_name_, line.text(), 0, [&](size_t at, std::string_view host) {
    if (domains.matches(host)) {
      out->push_back({line.token_at(at), "mining pool host " + quoted_excerpt(host),
                      truncate_utf8(host, kEvidenceMax)});
    }
  });
}

void Indicators::find_droppers(const TokenLine& line, std::vector<IndicatorHit>* out) const {
  // Every dropper pattern names one of these commands.
  const std::string& lower = line.lower_text();
  static constexpr std::string_view kCommands[] = {"curl", "wget", "fetch", "base64", "chmod"};
  static constexpr std::array<uint64_t, std::size(kCommands)> kCommandClasses = [] {
    std::array<uint64_t, std::size(kCommands)> classes{};
    for (size_t i = 0; i < classes.size(); ++i) classes[i] = classes_of(kCommands[i]);
    return classes;
  }();
  bool any = false;
  for (size_t i = 0; i < std::size(kCommands) && !any; ++i) {
    any = may_contain(line, kCommandClasses[i]) && lower.find(kCommands[i]) != std::string::npos;
  }
  if (!any) {
    return;
  }
  for (const auto& p : droppers_) {
    for_each_match(*p->re, line.text(), 0, [&](size_t at, std::string_view m) {
      out->push_back({line.token_at(at), std::string(p->message) + ": " + quoted_excerpt(m),
                      truncate_utf8(m, kEvidenceMax)});
    });
  }
}

void Indicators::find_wallet_addresses(const TokenLine& line,
                                       std::vector<IndicatorHit>* out) const {
  if (line.text().size() < 95) return;
  for_each_match(*wallet_, line.text(), 1, [&](size_t at, std::string_view m) {
    out->push_back({line.token_at(at),
                    "Monero wallet address " + quoted_excerpt(m.substr(0, 12)) + "...",
                    std::string(m)});
  });
}

void Indicators::find_miner_ports(const TokenLine& line, const PortSet& ports,
                                  std::vector<IndicatorHit>* out) const {
  std::string_view text = line.text();
  static constexpr uint64_t kColonDigit = classes_of(":0");
  if (ports.empty() || !may_contain(line, kColonDigit) || !has_port_candidate(text, ports)) {
    return;
  }
  std::array<re2::StringPiece, 3> g;
  size_t pos = 0;
  while (pos <= text.size() &&
         endpoint_->Match(text, pos, text.size(), RE2::UNANCHORED, g.data(), g.size())) {
    size_t at = static_cast<size_t>(g[0].data() - text.data());
    pos = std::max(at + g[0].size(), pos + 1);
    std::string host = lowercase(std::string_view(g[1].data(), g[1].size()));
    int port = std::atoi(std::string(g[2].data(), g[2].size()).c_str());
    if (ports.count(port) == 0) continue;
    // Wildcard and loopback addresses are where a server listens, not a pool it joins.
    if (host == "0.0.0.0" || host == "localhost" || starts_with(host, "127.") || host == "[::]" ||
        host == "[::1]") {
      continue;
    }
    std::string endpoint(g[0].data(), g[0].size());
    out->push_back(
        {line.token_at(at),
         "endpoint on miner port " + std::to_string(port) + " " + quoted_excerpt(endpoint),
         endpoint});
  }
}

void Indicators::find_plain(const TokenLine& line, const DomainSet& domains,
                            std::vector<IndicatorHit>* out) const {
  find_stratum_urls(line, out);
  find_miner_flags(line, out);
  find_miner_binaries(line, out);
  find_pool_hosts(line, domains, out);
  find_droppers(line, out);
  find_wallet_addresses(line, out);
}

bool Indicators::may_have_base64_fragment(std::string_view text) const {
  if (text.size() < 4) return false;
  for (size_t i = 0; i + 4 <= text.size(); i += base64_prefix_stride_) {
    const uint32_t h = prefix_hash(text.data() + i);
    if ((base64_prefixes_[h >> 6] >> (h & 63)) & 1) return true;
  }
  return false;
}

void Indicators::find_base64(const TokenLine& line, const DomainSet& domains,
                             std::vector<IndicatorHit>* out) const {
  if (may_have_base64_fragment(line.text())) {
    for_each_match(*base64_any_, line.text(), 0, [&](size_t at, std::string_view m) {
      auto it = std::find_if(base64_fragments_.begin(), base64_fragments_.end(),
                             [&](const Base64Fragment& f) { return f.fragment == m; });
      std::string keyword = it == base64_fragments_.end() ? "" : std::string(it->keyword);
      out->push_back({line.token_at(at), "base64 form of \"" + keyword + "\"", std::string(m)});
    });
  }

  static constexpr uint64_t kEquals = classes_of("=");
  const bool equals = may_contain(line, kEquals);  // the one bit is exactly the byte
  std::string decoded;
  for (const auto& w : line.words()) {
    std::string_view word = line.word(w);
    // NAME=<base64> in env values and --opt=<base64>: decode what follows the first '='.
    if (size_t eq = equals ? word.find('=') : std::string_view::npos;
        eq != std::string_view::npos && eq + 1 < word.size() && word[eq + 1] != '=') {
      word = word.substr(eq + 1);
    }
    if (word.size() < kBase64WordMin || word.size() > kBase64WordMax) continue;
    if (!base64_decode_scan(word, /*printable_only=*/true, &decoded)) continue;
    std::vector<IndicatorHit> inner;
    find_plain(TokenLine({decoded}), domains, &inner);
    if (inner.empty()) continue;
    out->push_back({w.token, "base64 text that decodes to: " + inner.front().message,
                    truncate_utf8(word, kEvidenceMax)});
  }
}

}  // namespace orderguard::policy
