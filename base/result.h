// The one error model of orderguard: functions that the environment can break
// (API calls, files, /proc, user input) return Result<T>, a value or an Error.
// Exceptions from third-party libraries are caught where those libraries are
// called and converted into an Error; they never cross a component boundary.
#pragma once

#include <cassert>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace orderguard {

// Kubernetes Status reasons and local failures map onto these few codes.
enum class ErrorCode {
  kInvalid,          // bad input: malformed spec, file, flag (HTTP 400/422)
  kNotFound,         // 404
  kAlreadyExists,    // 409 reason AlreadyExists
  kConflict,         // 409 (resourceVersion or apply conflict)
  kUnauthorized,     // 401
  kForbidden,        // 403
  kGone,             // 410: resourceVersion or continue token expired
  kTooManyRequests,  // 429 (also a PodDisruptionBudget refusing an eviction)
  kTimeout,          // 504 or a local deadline
  kUnavailable,      // connection refused/reset, 5xx: the server went away
  kInternal,         // anything else
  kCancelled,        // shutdown in progress
};

std::string_view to_string(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  int http_status = 0;     // 0 when the error did not come from an HTTP answer
  std::string reason;      // metav1.Status.reason when there was one
  nlohmann::json details;  // metav1.Status.details when there was one

  // Worth retrying with backoff (the server or network may recover).
  bool transient() const;
  // "Conflict (409): message"
  std::string describe() const;
};

inline Error make_error(ErrorCode code, std::string message) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  return e;
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }
  T value_or(T fallback) const { return ok() ? std::get<0>(v_) : std::move(fallback); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT: implicit by design

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

}  // namespace orderguard
