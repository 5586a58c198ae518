#!/usr/bin/env bash
# Chart checks run by `make test` (CTest: chart_render_test):
#  1. `helm lint` is clean (no errors, no warnings);
#  2. the rendered manifests for default and non-default values equal the
#     golden files in golden/ (UPDATE_GOLDEN=1 rewrites them after a deliberate change);
#  3. values.schema.json refuses bad values, naming the offending path.
# Field-by-field checks of renderings with non-default values are in
# e2e/chart/chart_template_test.cpp; checks that need a cluster in
# e2e/chart/chart_release_e2e_test.cpp.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
chart="$(dirname "$here")"
root="$(cd "$chart/../.." && pwd)"
helm="${ORDERGUARD_TOOLS_BIN:-$("$root/e2e/tools/build.sh")}/helm"
export HELM_CACHE_HOME="$(mktemp -d)" HELM_CONFIG_HOME="$(mktemp -d)" HELM_DATA_HOME="$(mktemp -d)"
trap 'rm -rf "$HELM_CACHE_HOME" "$HELM_CONFIG_HOME" "$HELM_DATA_HOME"' EXIT

# No warning of any kind is tolerated (the chart has no symbolic links).
lint="$("$helm" lint --strict "$chart" 2>&1 || true)"
if ! grep -q "1 chart(s) linted, 0 chart(s) failed" <<<"$lint" || grep -qE "\[(WARNING|ERROR)\]" <<<"$lint"; then
  echo "helm lint is not clean:"; echo "$lint"; exit 1
fi

declare -A cases=(
  [default]=""
  [cert-manager-dry-run]="--set webhook.certificates.mode=cert-manager --set webhook.certificates.certManagerIssuer=corp-ca --set agent.dryRun=true --set agent.quarantineExpiry=72h --set agent.killUnowned=true --set agent.resolvePools=false --set metrics.serviceMonitor.enabled=true --set webhook.auditSecrets=true --set webhook.configFailurePolicy=Fail"
  [provided-ignore]="--set webhook.certificates.mode=provided --set webhook.certificates.caBundle=Q0EK --set webhook.failurePolicy=Ignore --set webhook.timeoutSeconds=3 --set operator.replicas=3 --set defaultPolicy.mode=Audit"
  # An upgrade (the MinerPolicy kind is served) of a release with its own names and
  # every optional object: NetworkPolicies, the dashboard ConfigMap, placement values.
  [upgrade-production]="--api-versions security.orderguard.io/v1alpha1/MinerPolicy -f $here/production-values.yaml"
)
failed=0
for name in "${!cases[@]}"; do
  # shellcheck disable=SC2086
  out="$("$helm" template orderguard "$chart" -n orderguard-system --kube-version 1.34.4 \
         ${cases[$name]} 2>/dev/null)"
  # ConfigMaps and Secrets have an entry of their own beside the Pods': the
  # same namespaceSelector (kube-system and the release namespace, which holds
  # the webhook's TLS Secret, excluded), failurePolicy from configFailurePolicy.
  entry() { awk -v n="  - name: $1" '$0 == n {on=1; print; next} on && /^  - name: / {on=0} on' <<<"$out"; }
  # production-values.yaml adds "monitoring" to webhook.excludedNamespaces.
  excluded='values: ["kube-system","orderguard-system"]'
  [[ "$name" == upgrade-production ]] && excluded='values: ["kube-system","monitoring","orderguard-system"]'
  miners="$(entry miners.orderguard.io)"
  configs="$(entry configs.orderguard.io)"
  for want in "resources: [pods, pods/ephemeralcontainers, replicationcontrollers], operations: [CREATE, UPDATE]" \
              "$excluded"; do
    if ! grep -qF "$want" <<<"$miners"; then
      echo "rendered chart ($name): miners.orderguard.io lacks '$want'"; failed=1
    fi
  done
  config_failure=Ignore
  [[ "${cases[$name]}" == *configFailurePolicy=Fail* ]] && config_failure=Fail
  for want in "resources: [configmaps, secrets], operations: [CREATE, UPDATE]" \
              "$excluded" "failurePolicy: $config_failure"; do
    if ! grep -qF "$want" <<<"$configs"; then
      echo "rendered chart ($name): configs.orderguard.io lacks '$want'"; failed=1
    fi
  done
  if grep -qF "configmaps" <<<"$miners"; then
    echo "rendered chart ($name): configmaps in the pods' entry"; failed=1
  fi
  golden="$here/golden/$name.yaml"
  if [[ "${UPDATE_GOLDEN:-}" == 1 ]]; then
    printf '%s\n' "$out" >"$golden"
    continue
  fi
  if ! diff -u "$golden" <(printf '%s\n' "$out") >"$HELM_CACHE_HOME/diff"; then
    echo "rendered chart ($name) differs from $golden:"; head -60 "$HELM_CACHE_HOME/diff"
    failed=1
  fi
done
# A missing required value is a clear error, not a broken manifest.
if err="$("$helm" template orderguard "$chart" --kube-version 1.34.4 \
          --set webhook.certificates.mode=cert-manager 2>&1)"; then
  echo "cert-manager mode without an issuer rendered"; failed=1
elif ! grep -q "certManagerIssuer is required" <<<"$err"; then
  echo "unexpected error: $err"; failed=1
fi
# values.schema.json refuses bad values (and misspelt keys) with the path.
declare -A bad=(
  [webhook.failurePolicy=Never]="/webhook/failurePolicy"
  [webhook.certificates.mode=vault]="/webhook/certificates/mode"
  [defaultPolicy.mode=Warn]="/defaultPolicy/mode"
  [operator.replicas=0]="/operator/replicas"
  [agent.intervalSeconds=0]="/agent/intervalSeconds"
  [agent.poolRefresh=10minutes]="/agent/poolRefresh"
  [agent.quarantineExpiry=3days]="/agent/quarantineExpiry"
  [agent.quarantinePolicy=x]="additional properties 'quarantinePolicy'"
  [webhook.maxConnections=0]="/webhook/maxConnections"
  [webhook.failurPolicy=Ignore]="additional properties 'failurPolicy'"
  [operator.image.digest=latest]="/operator/image/digest"
  [agent.image.pullPolicy=Sometimes]="/agent/image/pullPolicy"
  [fullnameOverride=Upper_Case]="/fullnameOverride"
  [webhook.excludedNamespaces={Bad_Name}]="/webhook/excludedNamespaces/0"
  [operator.podDisruptionBudget.maxUnavailable=0]="/operator/podDisruptionBudget/maxUnavailable"
  [agent.podDisruptionBudget.enabled=true]="additional properties 'podDisruptionBudget'"
  [webhook.networkPolicy.enable=true]="additional properties 'enable'"
  [crds.upgrade=true]="additional properties 'upgrade'"
  [admissionPolicies.enabled=yes]="/admissionPolicies/enabled"
  [admissionPolicies.agentOnly=true]="additional properties 'agentOnly'"
  [agent.deleteOnPdbBlock=sometimes]="/agent/deleteOnPdbBlock"
  [metrics.dashboard.labels.grafana_dashboard=1]="/metrics/dashboard/labels/grafana_dashboard"
)
for value in "${!bad[@]}"; do
  if err="$("$helm" template orderguard "$chart" --set "$value" 2>&1)"; then
    echo "schema accepted $value"; failed=1
  elif ! grep -qF "${bad[$value]}" <<<"$err"; then
    echo "schema error for $value does not name ${bad[$value]}: $err"; failed=1
  fi
done
[[ $failed == 0 ]] && echo "chart: lint clean, ${#cases[@]} renderings match golden files, schema refuses ${#bad[@]} bad values"
exit $failed
