# Writes the AdmissionReviews of ConfigMaps and Secrets that webhook/test/admission_test.cpp
# and bench/admission_bench.cpp read, as kube-apiserver sends them for `kubectl apply`:
#   configmap_xmrig_review.json   xmrig's config.json (pool host, wallet, donate-level)
#   secret_xmrig_review.json      the same in a Secret (data base64)
#   configmap_redis_review.json   a redis.conf listening on port 3333 (benign)
# Usage: python3 bench/testdata/make_config_reviews.py bench/testdata
import base64, json, sys
W = ("48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZij"
     "BGUicoD")
xmrig = json.dumps({"autosave": True, "background": False,
                    "cpu": {"enabled": True, "huge-pages": True, "priority": None,
                            "max-threads-hint": 100, "rx": [0, 1]},
                    "donate-level": 1, "donate-over-proxy": 1, "log-file": None,
                    "pools": [{"algo": "rx/0", "coin": "monero", "url": "pool.supportxmr.com:443",
                               "user": W, "pass": "worker-7", "rig-id": None, "nicehash": False,
                               "keepalive": True, "enabled": True, "tls": True}],
                    "print-time": 60, "retries": 5, "retry-pause": 5}, indent=4)
redis = ("bind 0.0.0.0\nport 3333\nprotected-mode no\nmaxmemory 64mb\nmaxmemory-policy allkeys-lru\n"
         "appendonly yes\ncluster-enabled yes\ncluster-config-file nodes.conf\n"
         "cluster-node-timeout 5000\n")
def review(kind, resource, obj, uid):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid, "kind": {"group": "", "version": "v1", "kind": kind},
        "resource": {"group": "", "version": "v1", "resource": resource},
        "requestKind": {"group": "", "version": "v1", "kind": kind},
        "requestResource": {"group": "", "version": "v1", "resource": resource},
        "name": obj["metadata"]["name"], "namespace": "shop", "operation": "CREATE",
        "userInfo": {"username": "kubernetes-admin",
                     "groups": ["system:masters", "system:authenticated"]},
        "object": obj, "oldObject": None, "dryRun": False,
        "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1",
                    "fieldManager": "kubectl-client-side-apply", "fieldValidation": "Strict"}}}
def meta(name, uid):
    return {"name": name, "namespace": "shop", "uid": uid,
            "creationTimestamp": "2026-12-04T10:00:00Z",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"},
            "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update",
                               "apiVersion": "v1", "time": "2026-12-04T10:00:00Z",
                               "fieldsType": "FieldsV1",
                               "fieldsV1": {"f:data": {".": {}, "f:config.json": {}}}}]}
cm = {"kind": "ConfigMap", "apiVersion": "v1",
      "metadata": meta("batch-settings", "3f1c6a52-0b4e-4d7e-9a51-6e1f0d2b7c11"),
      "data": {"config.json": xmrig}}
sec = {"kind": "Secret", "apiVersion": "v1",
       "metadata": meta("batch-credentials", "8d2e4b1a-5c3f-4e6d-a7b8-9c0d1e2f3a4b"),
       "type": "Opaque", "data": {"config.json": base64.b64encode(xmrig.encode()).decode()}}
red = {"kind": "ConfigMap", "apiVersion": "v1",
       "metadata": meta("redis-config", "6b7c8d9e-0f1a-4b2c-8d3e-4f5a6b7c8d9e"),
       "data": {"redis.conf": redis}}
out = sys.argv[1] if len(sys.argv) > 1 else "."
for name, body in [
        ("configmap_xmrig_review.json",
         review("ConfigMap", "configmaps", cm, "b1e2c3d4-0001-4000-8000-000000000001")),
        ("secret_xmrig_review.json",
         review("Secret", "secrets", sec, "b1e2c3d4-0002-4000-8000-000000000002")),
        ("configmap_redis_review.json",
         review("ConfigMap", "configmaps", red, "b1e2c3d4-0003-4000-8000-000000000003"))]:
    with open(out + "/" + name, "w") as f:
        f.write(json.dumps(body, indent=2) + "\n")
