// The resource table and the URLs of API requests.
#include <string>
#include <string_view>

#include "kube/client.h"
#include "kube/url.h"

namespace orderguard::kube {

std::string percent_encode(std::string_view in, std::string_view also_allowed) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (const char ch : in) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~' || also_allowed.find(ch) != std::string_view::npos) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

std::string path_segment(std::string_view s) { return percent_encode(s, ":@"); }

Query& Query::add(std::string_view key, std::string_view value) {
  if (value.empty()) return *this;
  text_ += text_.empty() ? '?' : '&';
  text_ += percent_encode(key);
  text_ += '=';
  text_ += percent_encode(value);
  return *this;
}

std::string Resource::path(std::string_view ns, std::string_view name,
                           std::string_view subresource) const {
  std::string out = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) out += "/namespaces/" + path_segment(ns);
  out += "/" + plural;
  if (!name.empty()) {
    out += "/" + path_segment(name);
    if (!subresource.empty()) out += "/" + path_segment(subresource);
  }
  return out;
}

namespace resources {
const Resource kNamespaces{"", "v1", "namespaces", false, "Namespace"};
const Resource kPods{"", "v1", "pods", true, "Pod"};
const Resource kConfigMaps{"", "v1", "configmaps", true, "ConfigMap"};
const Resource kSecrets{"", "v1", "secrets", true, "Secret"};
const Resource kServices{"", "v1", "services", true, "Service"};
const Resource kServiceAccounts{"", "v1", "serviceaccounts", true, "ServiceAccount"};
const Resource kNodes{"", "v1", "nodes", false, "Node"};
const Resource kEvents{"events.k8s.io", "v1", "events", true, "Event"};
const Resource kLeases{"coordination.k8s.io", "v1", "leases", true, "Lease"};
const Resource kDeployments{"apps", "v1", "deployments", true, "Deployment"};
const Resource kStatefulSets{"apps", "v1", "statefulsets", true, "StatefulSet"};
const Resource kDaemonSets{"apps", "v1", "daemonsets", true, "DaemonSet"};
const Resource kReplicaSets{"apps", "v1", "replicasets", true, "ReplicaSet"};
const Resource kJobs{"batch", "v1", "jobs", true, "Job"};
const Resource kCronJobs{"batch", "v1", "cronjobs", true, "CronJob"};
const Resource kPodDisruptionBudgets{"policy", "v1", "poddisruptionbudgets", true,
                                     "PodDisruptionBudget"};
const Resource kHorizontalPodAutoscalers{"autoscaling", "v2", "horizontalpodautoscalers", true,
                                         "HorizontalPodAutoscaler"};
const Resource kCustomResourceDefinitions{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                                          false, "CustomResourceDefinition"};
const Resource kValidatingWebhookConfigurations{"admissionregistration.k8s.io", "v1",
                                                "validatingwebhookconfigurations", false,
                                                "ValidatingWebhookConfiguration"};
}  // namespace resources

}  // namespace orderguard::kube
