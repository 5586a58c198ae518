// Command-line conventions every orderguard binary follows (CLI11):
// - every option's default shows in --help;
// - --version prints the version, git commit and build date (kube/version.h), on the
//   program and on each subcommand;
// - durations are Go-style ("90s", "10m", "1h30m", "500ms"; base/duration.h), and a bad one
//   is refused while the command line is parsed, with the flag and the value in the message.
// Linked into the binaries only (orderguard::cli), like the version stamp.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/duration.h"
#include "base/result.h"

namespace orderguard::kube {

// Call on a new App before adding options or subcommands (they inherit the option defaults):
// defaults in --help, and --version printing version_text(program).
void configure_cli(CLI::App& app, std::string_view program);

// --version on a subcommand: `orderguard-agent run --version`.
void add_version_flag(CLI::App& command, std::string_view program);

// --kubeconfig, with the search order kube::load_config follows when it is empty.
CLI::Option* add_kubeconfig_flag(CLI::App& app, std::string& kubeconfig);

// --kube-api-qps and --kube-api-burst: the client-side rate limit of requests to the API
// server (the defaults are whatever `qps` and `burst` hold).
void add_api_rate_flags(CLI::App& app, double& qps, int& burst);

struct DurationLimits {
  std::chrono::nanoseconds min{0};
  std::optional<std::chrono::nanoseconds> max;
  // 0 is accepted below `min` (it means "never" or "off" for that flag).
  bool zero_ok = false;
};

// `text` as a duration within `limits`; kInvalid errors name the value and the bound.
Result<std::chrono::nanoseconds> parse_duration_flag(std::string_view text,
                                                     const DurationLimits& limits);

// A duration option. `set` stores the parsed value and returns an error message (empty: stored);
// `default_text` is what --help shows.
CLI::Option* add_duration_option(CLI::App& app, const std::string& name,
                                 std::function<std::string(std::chrono::nanoseconds)> set,
                                 const std::string& default_text, const std::string& description,
                                 DurationLimits limits = {});

// A duration option bound to `out`, whose current value is the default. A value finer than
// `out`'s unit (500ms into seconds) is refused rather than rounded.
template <class Rep, class Period>
CLI::Option* add_duration_option(CLI::App& app, const std::string& name,
                                 std::chrono::duration<Rep, Period>& out,
                                 const std::string& description, DurationLimits limits = {}) {
  using Target = std::chrono::duration<Rep, Period>;
  return add_duration_option(
      app, name,
      [&out](std::chrono::nanoseconds d) -> std::string {
        const Target cast = std::chrono::duration_cast<Target>(d);
        if (std::chrono::duration_cast<std::chrono::nanoseconds>(cast) != d) {
          return "not a whole number of " +
                 format_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(Target(1)));
        }
        out = cast;
        return {};
      },
      format_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(out)), description,
      limits);
}

}  // namespace orderguard::kube
