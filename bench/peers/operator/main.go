// peer-operator: a minimal controller-runtime operator for OrderService
// (tiers.orderguard.io/v1alpha1), the benchmark peer of orderguard-operator.
// It creates the same children per OrderService (per zone a Deployment and a
// PodDisruptionBudget, one Service, one ConfigMap) by server-side apply and
// writes status.observedGeneration with Ready and Progressing conditions, so
// bench/operator_bench measures it with the same driver. It is not a product:
// bench/peers/README.md lists what it leaves out.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/util/flowcontrol"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

const (
	group          = "tiers.orderguard.io"
	apiVersion     = "tiers.orderguard.io/v1alpha1"
	managedBy      = "orderguard-operator" // the same labels as orderguard's children
	serviceLabel   = "tiers.orderguard.io/orderservice"
	zoneNameLabel  = "tiers.orderguard.io/zone"
	nodeZoneLabel  = "topology.kubernetes.io/zone"
	hashAnnotation = "peer.orderguard.io/applied-hash"
	fieldOwner     = "peer-operator"
)

var orderServiceGVK = schema.GroupVersionKind{Group: group, Version: "v1alpha1", Kind: "OrderService"}

// Hand-written view of the OrderService fields the peer uses.
type zone struct {
	Name        string `json:"name"`
	Weight      int64  `json:"weight"`
	MinReplicas int64  `json:"minReplicas"`
}

type envVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type orderServiceSpec struct {
	Image     string   `json:"image"`
	Port      int64    `json:"port"`
	Replicas  int64    `json:"replicas"`
	Env       []envVar `json:"env"`
	Resources struct {
		Requests map[string]string `json:"requests"`
		Limits   map[string]string `json:"limits"`
	} `json:"resources"`
	Zones []zone `json:"zones"`
}

type reconciler struct {
	client.Client
	alwaysApply bool
}

// apportion: largest remainder of `amount` over the weights (equal shares when
// all weights are 0), ties to the earlier zone: orderguard's split without
// failover (every zone healthy).
func apportion(amount int64, zones []zone) []int64 {
	n := len(zones)
	out := make([]int64, n)
	w := make([]int64, n)
	var total int64
	for i, z := range zones {
		w[i] = z.Weight
		total += z.Weight
	}
	if n == 0 || amount <= 0 {
		return out
	}
	if total == 0 {
		for i := range w {
			w[i] = 1
		}
		total = int64(n)
	}
	rem := make([]int64, n)
	var given int64
	for i := range zones {
		out[i] = amount * w[i] / total
		rem[i] = amount * w[i] % total
		given += out[i]
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rem[order[a]] > rem[order[b]] })
	for k := 0; given < amount; k++ {
		out[order[k%n]]++
		given++
	}
	return out
}

// splitReplicas pins zones whose share falls below their minReplicas and
// shares the rest by weight, like orderguard's split_replicas with every zone
// healthy.
func splitReplicas(total int64, zones []zone) []int64 {
	out := make([]int64, len(zones))
	free := make([]bool, len(zones))
	for i := range free {
		free[i] = true
	}
	remaining := total
	for {
		var freeWeight, freeCount int64
		for i, z := range zones {
			if free[i] {
				freeWeight += z.Weight
				freeCount++
			}
		}
		if freeCount == 0 {
			break
		}
		pinned := false
		for i, z := range zones {
			if !free[i] {
				continue
			}
			w, bigW := z.Weight, freeWeight
			if freeWeight == 0 {
				w, bigW = 1, freeCount
			}
			if remaining*w < z.MinReplicas*bigW {
				out[i] = z.MinReplicas
				remaining -= out[i]
				free[i] = false
				pinned = true
			}
		}
		if pinned {
			continue
		}
		var sub []zone
		var idx []int
		for i, z := range zones {
			if free[i] {
				sub = append(sub, z)
				idx = append(idx, i)
			}
		}
		share := apportion(max(remaining, 0), sub)
		for k, i := range idx {
			out[i] = share[k]
		}
		break
	}
	return out
}

func child(kind, childAPIVersion, name string, owner *unstructured.Unstructured, labels map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": childAPIVersion,
		"kind":       kind,
		"metadata": map[string]any{
			"name":      name,
			"namespace": owner.GetNamespace(),
			"labels":    labels,
			"ownerReferences": []any{map[string]any{
				"apiVersion": apiVersion, "kind": "OrderService", "name": owner.GetName(),
				"uid": string(owner.GetUID()), "controller": true, "blockOwnerDeletion": true,
			}},
		},
	}
}

// render returns the children orderguard renders for an OrderService without
// autoscaling, cacheRef or shardSetRef, in the same order.
func render(svc *unstructured.Unstructured, spec *orderServiceSpec) []map[string]any {
	name := svc.GetName()
	common := func() map[string]any {
		return map[string]any{
			"app.kubernetes.io/name": "orderservice", "app.kubernetes.io/instance": name,
			"app.kubernetes.io/managed-by": managedBy, serviceLabel: name,
		}
	}
	cm := child("ConfigMap", "v1", name+"-tier-config", svc, common())
	cm["data"] = map[string]any{}
	service := child("Service", "v1", name, svc, common())
	service["spec"] = map[string]any{
		"type":     "ClusterIP",
		"selector": map[string]any{serviceLabel: name},
		"ports": []any{map[string]any{
			"name": "http", "port": int64(80), "targetPort": "http", "protocol": "TCP",
		}},
	}
	out := []map[string]any{cm, service}
	replicas := splitReplicas(spec.Replicas, spec.Zones)
	for i, z := range spec.Zones {
		zoneLabels := func() map[string]any {
			l := common()
			l[zoneNameLabel] = z.Name
			return l
		}
		selector := func() map[string]any { return map[string]any{serviceLabel: name, zoneNameLabel: z.Name} }
		env := []any{}
		for _, e := range spec.Env {
			env = append(env, map[string]any{"name": e.Name, "value": e.Value})
		}
		env = append(env, map[string]any{"name": "ORDERGUARD_ZONE", "value": z.Name})
		container := map[string]any{
			"name":    "app",
			"image":   spec.Image,
			"ports":   []any{map[string]any{"name": "http", "containerPort": spec.Port, "protocol": "TCP"}},
			"envFrom": []any{map[string]any{"configMapRef": map[string]any{"name": name + "-tier-config"}}},
			"env":     env,
		}
		resources := map[string]any{}
		if len(spec.Resources.Requests) > 0 {
			resources["requests"] = toAny(spec.Resources.Requests)
		}
		if len(spec.Resources.Limits) > 0 {
			resources["limits"] = toAny(spec.Resources.Limits)
		}
		if len(resources) > 0 {
			container["resources"] = resources
		}
		dep := child("Deployment", "apps/v1", name+"-"+z.Name, svc, zoneLabels())
		dep["spec"] = map[string]any{
			"replicas": replicas[i],
			"selector": map[string]any{"matchLabels": selector()},
			"template": map[string]any{
				"metadata": map[string]any{"labels": zoneLabels()},
				"spec": map[string]any{
					"containers": []any{container},
					"affinity": map[string]any{"nodeAffinity": map[string]any{
						"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{
							"nodeSelectorTerms": []any{map[string]any{"matchExpressions": []any{
								map[string]any{"key": nodeZoneLabel, "operator": "In", "values": []any{z.Name}},
							}}},
						},
					}},
					"topologySpreadConstraints": []any{map[string]any{
						"maxSkew": int64(1), "topologyKey": "kubernetes.io/hostname",
						"whenUnsatisfiable": "ScheduleAnyway",
						"labelSelector":     map[string]any{"matchLabels": selector()},
					}},
				},
			},
		}
		pdb := child("PodDisruptionBudget", "policy/v1", name+"-"+z.Name, svc, zoneLabels())
		pdb["spec"] = map[string]any{
			"maxUnavailable":             int64(1),
			"selector":                   map[string]any{"matchLabels": selector()},
			"unhealthyPodEvictionPolicy": "AlwaysAllow",
		}
		out = append(out, dep, pdb)
	}
	return out
}

func toAny(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// cached returns the annotation hash of the child in the informer cache ("" if absent).
func (r *reconciler) cachedHash(ctx context.Context, kind, ns, name string) (string, error) {
	var obj client.Object
	switch kind {
	case "Deployment":
		obj = &appsv1.Deployment{}
	case "PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	case "Service":
		obj = &corev1.Service{}
	default:
		obj = &corev1.ConfigMap{}
	}
	if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return "", nil
		}
		return "", err
	}
	return obj.GetAnnotations()[hashAnnotation], nil
}

func (r *reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	svc := &unstructured.Unstructured{}
	svc.SetGroupVersionKind(orderServiceGVK)
	if err := r.Get(ctx, req.NamespacedName, svc); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if svc.GetDeletionTimestamp() != nil {
		return ctrl.Result{}, nil // children go with their owner (garbage collector)
	}
	var spec orderServiceSpec
	raw, err := json.Marshal(svc.Object["spec"])
	if err == nil {
		err = json.Unmarshal(raw, &spec)
	}
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("spec: %w", err)
	}

	// Children: server-side apply, skipped when the cached child carries the
	// hash of what would be applied (so a resync or a child's status change
	// writes nothing).
	for _, c := range render(svc, &spec) {
		body, err := json.Marshal(c)
		if err != nil {
			return ctrl.Result{}, err
		}
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:12])
		md := c["metadata"].(map[string]any)
		if !r.alwaysApply {
			have, err := r.cachedHash(ctx, c["kind"].(string), svc.GetNamespace(), md["name"].(string))
			if err != nil {
				return ctrl.Result{}, err
			}
			if have == hash {
				continue
			}
		}
		md["annotations"] = map[string]any{hashAnnotation: hash}
		u := &unstructured.Unstructured{Object: c}
		if err := r.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
			client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
			return ctrl.Result{}, err
		}
	}

	// Status from the zone Deployments in the cache.
	gen := svc.GetGeneration()
	replicas := splitReplicas(spec.Replicas, spec.Zones)
	var zones []any
	var totalDesired, totalReady int64
	rolling := false
	var short []string
	for i, z := range spec.Zones {
		var ready int64
		dep := &appsv1.Deployment{}
		err := r.Get(ctx, types.NamespacedName{Namespace: svc.GetNamespace(), Name: svc.GetName() + "-" + z.Name}, dep)
		switch {
		case apierrors.IsNotFound(err):
			rolling = true
		case err != nil:
			return ctrl.Result{}, err
		default:
			ready = int64(dep.Status.ReadyReplicas)
			if dep.Status.ObservedGeneration < dep.Generation || int64(dep.Status.UpdatedReplicas) < replicas[i] {
				rolling = true
			}
		}
		totalDesired += replicas[i]
		totalReady += ready
		if ready < replicas[i] {
			short = append(short, z.Name)
		}
		zones = append(zones, map[string]any{
			"name": z.Name, "weight": z.Weight, "desiredReplicas": replicas[i],
			"readyReplicas": ready, "healthy": true,
		})
	}
	var conditions []metav1.Condition
	if old, ok, _ := unstructured.NestedSlice(svc.Object, "status", "conditions"); ok {
		raw, _ := json.Marshal(old)
		_ = json.Unmarshal(raw, &conditions)
	}
	set := func(t string, s metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&conditions, metav1.Condition{
			Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen,
		})
	}
	if len(short) > 0 {
		set("Ready", metav1.ConditionFalse, "ReplicasNotReady",
			"zones below their desired ready replicas: "+strings.Join(short, ", "))
	} else {
		set("Ready", metav1.ConditionTrue, "AllZonesReady", "every zone serves its share")
	}
	if rolling {
		set("Progressing", metav1.ConditionTrue, "RollingOut", "zone Deployments are being created or updated")
	} else {
		set("Progressing", metav1.ConditionFalse, "Stable", "every zone Deployment is up to date")
	}
	status := map[string]any{
		"observedGeneration": gen,
		"replicas":           totalDesired,
		"selector":           serviceLabel + "=" + svc.GetName(),
		"zoneSummary":        strconv.Itoa(len(spec.Zones)) + "/" + strconv.Itoa(len(spec.Zones)),
		"conditions":         conditions,
		"zones":              zones,
	}
	// Compare in the cache's form: JSON decoded the way unstructured objects
	// are (integers as int64, not float64).
	newJSON, err := json.Marshal(status)
	if err != nil {
		return ctrl.Result{}, err
	}
	var newStatus map[string]any
	if err := utiljson.Unmarshal(newJSON, &newStatus); err != nil {
		return ctrl.Result{}, err
	}
	if old, ok := svc.Object["status"]; ok && equality.Semantic.DeepEqual(old, any(newStatus)) {
		return ctrl.Result{}, nil
	}
	patch := map[string]any{"status": newStatus}
	body, _ := json.Marshal(patch)
	if err := r.Status().Patch(ctx, svc, client.RawPatch(types.MergePatchType, body)); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, nil
}

func main() {
	var metricsAddr string
	var qps float64
	var burst, workers int
	var resync time.Duration
	var alwaysApply, leaderElect, sharedLimit bool
	// --kubeconfig is controller-runtime's own flag (pkg/client/config registers it).
	flag.StringVar(&metricsAddr, "metrics-addr", ":8080", "address of /metrics")
	flag.Float64Var(&qps, "kube-api-qps", 20, "client-side rate limit: requests per second to the API server")
	flag.IntVar(&burst, "kube-api-burst", 30, "client-side rate limit: burst")
	flag.IntVar(&workers, "workers", 2, "concurrent reconciles (orderguard-operator's default is 2)")
	flag.DurationVar(&resync, "resync-period", 10*time.Hour, "informer resync: every cached object reconciled again")
	flag.BoolVar(&alwaysApply, "always-apply", false,
		"apply every child on every reconcile (no applied-hash check): the simplest controller-runtime operator")
	flag.BoolVar(&leaderElect, "leader-elect", false, "hold a Lease in the kube-system namespace")
	// client-go makes a token bucket per REST client when the config has no RateLimiter,
	// and controller-runtime makes a REST client per GroupVersionKind: by default each kind
	// (Deployments, PDBs, Services, ConfigMaps, OrderService status, ...) gets its own
	// --kube-api-qps. orderguard-operator has one bucket per process, so the comparison
	// shares one bucket here too unless this is false.
	flag.BoolVar(&sharedLimit, "shared-rate-limit", true,
		"one client-side rate limit for the whole process (false: controller-runtime's default, one per kind)")
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseDevMode(false), zap.Level(zapcore.ErrorLevel)))

	cfg, err := ctrl.GetConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubeconfig:", err)
		os.Exit(2)
	}
	cfg.QPS = float32(qps)
	cfg.Burst = burst
	if sharedLimit {
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(float32(qps), burst)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: metricsAddr},
		Cache:   cache.Options{SyncPeriod: &resync},
		// OrderService is read as unstructured: from the informer cache, as
		// the typed children are (controller-runtime reads unstructured
		// objects from the API server unless told so).
		Client:                  client.Options{Cache: &client.CacheOptions{Unstructured: true}},
		LeaderElection:          leaderElect,
		LeaderElectionID:        "peer-operator",
		LeaderElectionNamespace: "kube-system",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
	owner := &unstructured.Unstructured{}
	owner.SetGroupVersionKind(orderServiceGVK)
	err = ctrl.NewControllerManagedBy(mgr).
		Named("orderservice").
		For(owner).
		Owns(&appsv1.Deployment{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(&reconciler{Client: mgr.GetClient(), alwaysApply: alwaysApply})
	if err != nil {
		fmt.Fprintln(os.Stderr, "controller:", err)
		os.Exit(1)
	}
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}
