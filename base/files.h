// Whole-file reads and change detection for configuration, token and
// certificate files.
#pragma once

#include <string>

#include "base/result.h"

namespace orderguard {

// Reads a whole file. The error message is the OS reason only ("No such file
// or directory"), so each caller names the file and field as its context needs.
Result<std::string> read_file(const std::string& path);

// What a file is right now, for noticing that it changed without reading it:
// the kubelet rotates mounted Secrets and projected tokens by swapping a
// symlink, so device and inode change as well as size and mtime.
struct FileIdentity {
  unsigned long long device = 0;
  unsigned long long inode = 0;
  long long size = 0;
  long long mtime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

// stat() of what `path` resolves to; the error message is the OS reason.
Result<FileIdentity> file_identity(const std::string& path);

}  // namespace orderguard
