#include "kube/cli.h"

#include "kube/version.h"

namespace orderguard::kube {

namespace {
constexpr const char* kVersionHelp = "print the version, git commit and build date, then exit";
}  // namespace

std::string version_text(std::string_view program, const BuildInfo& info) {
  std::string out(program);
  out += " ";
  out += info.version;
  out += "\ngit commit: ";
  out += info.git_commit;
  out += "\nbuild date: ";
  out += info.build_date;
  return out;
}

void configure_cli(CLI::App& app, std::string_view program) {
  app.option_defaults()->always_capture_default();
  add_version_flag(app, program);
}

void add_version_flag(CLI::App& command, std::string_view program) {
  command.set_version_flag("--version", version_text(program), kVersionHelp);
}

CLI::Option* add_kubeconfig_flag(CLI::App& app, std::string& kubeconfig) {
  return app.add_option("--kubeconfig", kubeconfig,
                        "kubeconfig file (default: $KUBECONFIG, in-cluster, then ~/.kube/config)");
}

void add_api_rate_flags(CLI::App& app, double& qps, int& burst) {
  app.add_option("--kube-api-qps", qps,
                 "client-side limit of requests per second to the API server (0: no limit)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--kube-api-burst", burst,
                 "requests the client may send at once above --kube-api-qps")
      ->check(CLI::PositiveNumber);
}

Result<std::chrono::nanoseconds> parse_duration_flag(std::string_view text,
                                                     const DurationLimits& limits) {
  Result<std::chrono::nanoseconds> d = parse_duration(text);
  if (!d) return d;
  const std::string quoted = "bad duration " + quote_duration_input(text) + ": ";
  if (*d == std::chrono::nanoseconds(0) && limits.zero_ok) return d;
  if (*d < limits.min) {
    return make_error(ErrorCode::kInvalid, quoted + "must be at least " +
                                               format_duration(limits.min) +
                                               (limits.zero_ok ? " (or 0)" : ""));
  }
  if (limits.max && *d > *limits.max) {
    return make_error(ErrorCode::kInvalid,
                      quoted + "must be at most " + format_duration(*limits.max));
  }
  return d;
}

CLI::Option* add_duration_option(CLI::App& app, const std::string& name,
                                 std::function<std::string(std::chrono::nanoseconds)> set,
                                 const std::string& default_text, const std::string& description,
                                 DurationLimits limits) {
  auto* option = app.add_option_function<std::string>(
      name,
      [name, set = std::move(set), limits](const std::string& text) {
        Result<std::chrono::nanoseconds> d = parse_duration_flag(text, limits);
        if (!d) throw CLI::ValidationError(name, d.error().message);
        if (std::string why = set(*d); !why.empty()) {
          throw CLI::ValidationError(name, "bad duration \"" + text + "\": " + why);
        }
      },
      description);
  option->type_name("DURATION")->default_str(default_text);
  return option;
}

}  // namespace orderguard::kube
