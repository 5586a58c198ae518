# Writes deployment3_review.json: the AdmissionReview of a 3-container Deployment,
# padded with realistic env to ~3 KB, that scripts/bench_webhook.sh POSTs and
# bench/admission_bench.cpp evaluates.
# Usage: python3 bench/testdata/make_deployment3_review.py bench/testdata/deployment3_review.json
import json, sys
def c(name, image, n):
    return {"name": name, "image": image, "args": ["--listen=:8080", "--log-format=json"],
            "env": [{"name": f"SETTING_{i}", "value": f"value-{i}-" + "x" * 24} for i in range(n)],
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
            "ports": [{"containerPort": 8080, "name": "http"}],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}}
dep = {"apiVersion": "apps/v1", "kind": "Deployment",
       "metadata": {"name": "orders", "namespace": "shop", "labels": {"app": "orders"}},
       "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "orders"}},
                "template": {"metadata": {"labels": {"app": "orders"}},
                             "spec": {"containers": [c("app", "registry.example.com/shop/orders:1.4.2", 12),
                                                     c("envoy", "envoyproxy/envoy:v1.30.1", 6),
                                                     c("statsd", "prom/statsd-exporter:v0.26.1", 6)]}}}}
review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
          "request": {"uid": "b8f3c1de-2f0a-4a7e-9d55-0c5a7c1e9a01",
                      "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                      "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
                      "namespace": "shop", "name": "orders", "operation": "CREATE",
                      "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
                      "object": dep, "dryRun": False}}
open(sys.argv[1], "w").write(json.dumps(review))
