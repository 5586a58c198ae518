#include "agent/persistence.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "agent/scoring.h"
#include "policy/indicators.h"
#include "policy/process.h"

namespace orderguard::agent {
namespace {

using KeyDigest = AuthorizedKeyDigest;

// SHA-256 through one reused context: a file may hold a million keys.
class KeyHasher {
 public:
  KeyHasher() : md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)), ctx_(EVP_MD_CTX_new()) {}
  ~KeyHasher() {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_free(md_);
  }
  KeyHasher(const KeyHasher&) = delete;
  KeyHasher& operator=(const KeyHasher&) = delete;

  KeyDigest digest(std::string_view key) {
    unsigned char md[EVP_MAX_MD_SIZE] = {};
    unsigned int len = 0;
    if (md_ == nullptr || ctx_ == nullptr || EVP_DigestInit_ex(ctx_, md_, nullptr) != 1 ||
        EVP_DigestUpdate(ctx_, key.data(), key.size()) != 1 ||
        EVP_DigestFinal_ex(ctx_, md, &len) != 1) {
      // OpenSSL without SHA-256 (a broken install): compare the keys' bytes' std::hash, a
      // weaker but working fallback, rather than seeing every key as the same.
      return KeyDigest{std::hash<std::string_view>{}(key), key.size()};
    }
    KeyDigest out;
    std::memcpy(&out.high, md, sizeof(out.high));
    std::memcpy(&out.low, md + sizeof(out.high), sizeof(out.low));
    return out;
  }

 private:
  EVP_MD* md_;
  EVP_MD_CTX* ctx_;
};

std::string mib(uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// Indicators in one command line of a cron table or unit, as "rule: message".
std::vector<policy::Finding> indicators_in(std::string_view command,
                                           const policy::CompiledPolicy& pol) {
  policy::ProcessInfo info;
  info.cmdline = {std::string(command)};
  return policy::scan_process(info, pol).findings;
}

std::string describe(const std::vector<policy::Finding>& found) {
  std::string out;
  for (const policy::Finding& f : found) {
    if (!out.empty()) out += "; ";
    out += f.rule_id + ": " + f.message;
  }
  return out;
}

}  // namespace

std::string_view trim_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
    line.remove_suffix(1);
  }
  size_t first = line.find_first_not_of(" \t");
  return first == std::string_view::npos ? std::string_view() : line.substr(first);
}

std::vector<std::string> ld_preload_libraries(std::string_view raw) {
  std::vector<std::string> out;
  std::string_view line = trim_line(raw);
  if (line.empty() || line.front() == '#') return out;
  size_t pos = 0;
  while (pos < line.size()) {
    size_t end = line.find_first_of(" \t:", pos);
    if (end == std::string_view::npos) end = line.size();
    if (end > pos) out.emplace_back(line.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::optional<policy::Finding> cron_line_finding(std::string_view file, size_t number,
                                                 std::string_view raw,
                                                 const policy::CompiledPolicy& pol) {
  std::string_view line = trim_line(raw);
  if (line.empty() || line.front() == '#') return std::nullopt;
  std::vector<policy::Finding> found = indicators_in(line, pol);
  if (found.empty()) return std::nullopt;
  return make_finding(kRuleCronPersistence, std::string(file) + ":" + std::to_string(number),
                      "cron entry runs a miner or a download: " + describe(found),
                      std::string(line), pol.scoring);
}

std::optional<policy::Finding> systemd_line_finding(std::string_view file, size_t number,
                                                    std::string_view raw,
                                                    const policy::CompiledPolicy& pol) {
  std::string_view line = trim_line(raw);
  if (line.substr(0, 4) != "Exec") return std::nullopt;
  size_t eq = line.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  std::vector<policy::Finding> found = indicators_in(line.substr(eq + 1), pol);
  if (found.empty()) return std::nullopt;
  return make_finding(kRuleSystemdPersistence, std::string(file) + ":" + std::to_string(number),
                      "systemd unit runs a miner or a download: " + describe(found),
                      std::string(line), pol.scoring);
}

std::optional<std::string_view> authorized_key(std::string_view raw) {
  std::string_view line = trim_line(raw);
  if (line.empty() || line.front() == '#') return std::nullopt;
  return line;
}

PersistenceScanner::PersistenceScanner(const HostView* view, const Clock* clock,
                                       std::chrono::seconds recent_window, LineLimits limits)
    : view_(view), clock_(clock), recent_window_(recent_window), limits_(limits) {}

bool PersistenceScanner::read_lines(
    const std::string& file, const policy::CompiledPolicy& pol, std::vector<policy::Finding>* out,
    const std::function<void(size_t number, std::string_view line)>& on_line) {
  size_t number = 0;
  Result<LinesRead> read = HostView::read_lines(
      view_->host_path(file), limits_, [&](std::string_view line) { on_line(++number, line); });
  if (!read) return false;
  if (read->over_limit) {
    out->push_back(
        make_finding(kRuleOversizedFile, file,
                     "file is over " + mib(limits_.max_file_bytes) + " or has a line over " +
                         std::to_string(limits_.max_line_bytes >> 10) +
                         " KiB; no real one is: padded to hide an entry? (checked up to the bound)",
                     file, pol.scoring));
  }
  return true;
}

std::vector<policy::Finding> PersistenceScanner::scan(const policy::CompiledPolicy& pol) {
  std::vector<policy::Finding> out;
  check_ld_preload(pol, &out);
  check_cron(pol, &out);
  check_systemd(pol, &out);
  check_droppers(pol, &out);
  check_ssh_keys(pol, &out);
  check_binaries(pol, &out);
  have_baseline_ = true;
  return out;
}

bool PersistenceScanner::recent(int64_t mtime) const {
  int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(clock_->wall_now().time_since_epoch())
          .count();
  return mtime >= now - recent_window_.count() && mtime <= now + 60;
}

void PersistenceScanner::check_ld_preload(const policy::CompiledPolicy& pol,
                                          std::vector<policy::Finding>* out) {
  read_lines("/etc/ld.so.preload", pol, out, [&](size_t, std::string_view line) {
    for (const std::string& lib : ld_preload_libraries(line)) {
      std::string note = HostView::stat_path(view_->host_path(lib)).ok() ? "exists" : "missing";
      for (const policy::DropperFile& d : policy::known_dropper_files()) {
        if (d.path == lib) note += ", known dropper file of " + std::string(d.family);
      }
      out->push_back(make_finding(
          kRuleLdPreload, "/etc/ld.so.preload",
          "ld.so.preload loads " + lib + " into every process (" + note + ")", lib, pol.scoring));
    }
  });
}

void PersistenceScanner::check_cron(const policy::CompiledPolicy& pol,
                                    std::vector<policy::Finding>* out) {
  std::vector<std::string> files = {"/etc/crontab", "/etc/anacrontab"};
  for (const char* dir : {"/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily", "/etc/cron.weekly",
                          "/etc/cron.monthly", "/var/spool/cron", "/var/spool/cron/crontabs"}) {
    Result<std::vector<std::string>> names = HostView::list_dir(view_->host_path(dir));
    if (!names) continue;
    for (const std::string& n : *names) files.push_back(std::string(dir) + "/" + n);
  }
  for (const std::string& file : files) {
    Result<FileStat> st = HostView::stat_path(view_->host_path(file));
    if (!st || !st->is_regular) continue;
    read_lines(file, pol, out, [&](size_t number, std::string_view line) {
      if (auto f = cron_line_finding(file, number, line, pol)) out->push_back(std::move(*f));
    });
  }
}

void PersistenceScanner::check_systemd(const policy::CompiledPolicy& pol,
                                       std::vector<policy::Finding>* out) {
  std::vector<std::string> files;
  // On a merged-/usr host /lib is a symlink to usr/lib: the same directory is read once.
  std::set<std::pair<uint64_t, uint64_t>> dirs_read;
  for (const char* dir : {"/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system",
                          "/lib/systemd/system"}) {
    Result<FileStat> dst = HostView::stat_path(view_->host_path(dir), /*follow=*/true);
    if (!dst || !dst->is_dir || !dirs_read.emplace(dst->device, dst->inode).second) continue;
    Result<std::vector<std::string>> names = HostView::list_dir(view_->host_path(dir));
    if (!names) continue;
    for (const std::string& n : *names) {
      std::string path = std::string(dir) + "/" + n;
      Result<FileStat> st = HostView::stat_path(view_->host_path(path));
      if (!st) continue;
      if (st->is_regular) {
        files.push_back(path);
      } else if (st->is_dir) {
        Result<std::vector<std::string>> sub = HostView::list_dir(view_->host_path(path));
        if (!sub) continue;
        for (const std::string& s : *sub) files.push_back(path + "/" + s);
      }
    }
  }
  for (const std::string& file : files) {
    // lstat: symlinks in *.wants point at units listed elsewhere, and their absolute
    // targets would resolve outside the host root.
    Result<FileStat> st = HostView::stat_path(view_->host_path(file));
    if (!st || !st->is_regular) continue;
    read_lines(file, pol, out, [&](size_t number, std::string_view line) {
      if (auto f = systemd_line_finding(file, number, line, pol)) out->push_back(std::move(*f));
    });
  }
}

void PersistenceScanner::check_droppers(const policy::CompiledPolicy& pol,
                                        std::vector<policy::Finding>* out) {
  for (const policy::DropperFile& d : policy::known_dropper_files()) {
    std::string path(d.path);
    std::vector<std::string> hits;
    if (!path.empty() && path.back() == '*') {
      std::string prefix = path.substr(0, path.size() - 1);
      size_t slash = prefix.rfind('/');
      std::string dir = prefix.substr(0, slash);
      std::string stem = prefix.substr(slash + 1);
      Result<std::vector<std::string>> names = HostView::list_dir(view_->host_path(dir));
      if (!names) continue;
      for (const std::string& n : *names) {
        if (n.rfind(stem, 0) == 0) hits.push_back(dir + "/" + n);
      }
    } else {
      bool want_dir = !path.empty() && path.back() == '/';
      if (want_dir) path.pop_back();
      Result<FileStat> st = HostView::stat_path(view_->host_path(path));
      if (st && (!want_dir || st->is_dir)) hits.push_back(path);
    }
    for (const std::string& h : hits) {
      out->push_back(make_finding(
          kRuleDropperFile, h, "known dropper file of " + std::string(d.family), h, pol.scoring));
    }
  }
}

void PersistenceScanner::check_ssh_keys(const policy::CompiledPolicy& pol,
                                        std::vector<policy::Finding>* out) {
  std::vector<std::string> dirs = {"/root/.ssh"};
  if (Result<std::vector<std::string>> homes = HostView::list_dir(view_->host_path("/home"));
      homes) {
    for (const std::string& h : *homes) dirs.push_back("/home/" + h + "/.ssh");
  }
  KeyHasher hasher;
  std::map<std::string, std::vector<KeyDigest>> current;
  for (const std::string& dir : dirs) {
    for (const char* name : {"authorized_keys", "authorized_keys2"}) {
      std::string file = dir + "/" + name;
      Result<FileStat> st = HostView::stat_path(view_->host_path(file), true);
      if (!st || !st->is_regular) continue;
      const std::vector<KeyDigest>& before = ssh_keys_[file];
      std::vector<KeyDigest>& keys = current[file];
      size_t count = 0;           // key lines, duplicates included
      std::set<KeyDigest> added;  // the first kMaxKeyFindings new keys, reported once each
      size_t more = 0;
      const bool read = read_lines(file, pol, out, [&](size_t, std::string_view line) {
        std::optional<std::string_view> key = authorized_key(line);
        if (!key) return;
        ++count;
        const KeyDigest digest = hasher.digest(*key);
        keys.push_back(digest);
        if (!have_baseline_ || std::binary_search(before.begin(), before.end(), digest)) return;
        if (added.size() >= kMaxKeyFindings) {
          if (!added.contains(digest)) ++more;
          return;
        }
        if (!added.insert(digest).second) return;  // the same new key on two lines
        // The comment field (user@host) is the readable part of a key line.
        size_t sp = key->rfind(' ');
        std::string label = sp == std::string_view::npos ? "" : std::string(key->substr(sp + 1));
        out->push_back(make_finding(kRuleSshKeyAdded, file,
                                    "SSH key added since the last scan: " + label,
                                    std::string(*key), pol.scoring));
      });
      std::sort(keys.begin(), keys.end());
      keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
      if (!read) continue;
      if (more > 0) {
        out->push_back(
            make_finding(kRuleSshKeyAdded, file,
                         std::to_string(more) + " more SSH keys added since the last scan",
                         std::to_string(more), pol.scoring));
      }
      if (!have_baseline_ && recent(st->mtime)) {
        out->push_back(
            make_finding(kRuleSshKeyAdded, file,
                         "authorized_keys modified recently (" + std::to_string(count) + " keys)",
                         file, pol.scoring));
      }
    }
  }
  ssh_keys_ = std::move(current);
}

void PersistenceScanner::check_binaries(const policy::CompiledPolicy& pol,
                                        std::vector<policy::Finding>* out) {
  size_t reported = 0;
  size_t more = 0;
  for (const char* dir : {"/usr/bin", "/usr/sbin", "/bin", "/sbin"}) {
    // /bin and /sbin are symlinks to /usr on merged-/usr hosts: scan them once.
    Result<FileStat> dst = HostView::stat_path(view_->host_path(dir));
    if (!dst || !dst->is_dir) continue;
    Result<std::vector<std::string>> names = HostView::list_dir(view_->host_path(dir));
    if (!names) continue;
    for (const std::string& n : *names) {
      std::string file = std::string(dir) + "/" + n;
      Result<FileStat> st = HostView::stat_path(view_->host_path(file));
      if (!st || !st->is_regular || !recent(st->mtime)) continue;
      if (reported >= kMaxBinaryFindings) {
        ++more;
        continue;
      }
      ++reported;
      out->push_back(
          make_finding(kRuleBinaryModified, file, "binary modified recently", file, pol.scoring));
    }
  }
  if (more > 0) {
    out->push_back(make_finding(kRuleBinaryModified, "/usr/bin",
                                std::to_string(more) + " more binaries modified recently",
                                std::to_string(more), pol.scoring));
  }
}

}  // namespace orderguard::agent
