// peer-webhook: a minimal validating admission webhook on controller-runtime's
// webhook server, the benchmark peer of orderguard-webhook. It decodes the
// AdmissionReview of a workload, checks every container image's name against
// a literal list of miner names and refuses a match with a message; anything
// else is allowed. It is not a product: bench/peers/README.md lists how far
// this is from what orderguard-webhook checks.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"go.uber.org/zap/zapcore"
)

// The miner binary names of orderguard's built-in indicators: the first list
// matches anywhere in an image's repository name, the second only as the whole
// last path segment (names that are also ordinary words).
var (
	minerSubstrings = []string{
		"xmrig", "xmr-stak", "minerd", "minergate", "cpuminer", "ccminer", "ethminer", "cgminer",
		"bfgminer", "sgminer", "nbminer", "lolminer", "phoenixminer", "teamredminer", "nanominer",
		"srbminer", "nheqminer", "kinsing", "kdevtmpfsi", "kworkerds", "pwnrig",
	}
	minerExact = map[string]bool{
		"claymore": true, "t-rex": true, "gminer": true, "bminer": true, "wildrig": true,
		"kworkerds3": true, "kworkerdssx": true, "kthreaddk": true, "kerberods": true,
		"kthrotlds": true, "sustse": true, "dero-miner-linux-amd64": true,
		"derod-linux-amd64": true, "dero-wallet-cli-linux-amd64": true,
	}
)

// repositoryName: the last path segment of an image reference, lower case,
// without tag or digest ("docker.io/foo/XMRig:6.21@sha256:..." -> "xmrig").
func repositoryName(image string) string {
	if at := strings.IndexByte(image, '@'); at >= 0 {
		image = image[:at]
	}
	if slash := strings.LastIndexByte(image, '/'); slash >= 0 {
		image = image[slash+1:]
	}
	if colon := strings.IndexByte(image, ':'); colon >= 0 {
		image = image[:colon]
	}
	return strings.ToLower(image)
}

func minerImage(image string) string {
	name := repositoryName(image)
	if minerExact[name] {
		return name
	}
	for _, m := range minerSubstrings {
		if strings.Contains(name, m) {
			return m
		}
	}
	return ""
}

type validator struct {
	decoder admission.Decoder
}

func (v *validator) podSpec(req admission.Request) (*corev1.PodSpec, error) {
	switch req.Kind.Kind {
	case "Pod":
		var o corev1.Pod
		err := v.decoder.Decode(req, &o)
		return &o.Spec, err
	case "Deployment":
		var o appsv1.Deployment
		err := v.decoder.Decode(req, &o)
		return &o.Spec.Template.Spec, err
	case "StatefulSet":
		var o appsv1.StatefulSet
		err := v.decoder.Decode(req, &o)
		return &o.Spec.Template.Spec, err
	case "DaemonSet":
		var o appsv1.DaemonSet
		err := v.decoder.Decode(req, &o)
		return &o.Spec.Template.Spec, err
	case "ReplicaSet":
		var o appsv1.ReplicaSet
		err := v.decoder.Decode(req, &o)
		return &o.Spec.Template.Spec, err
	case "Job":
		var o batchv1.Job
		err := v.decoder.Decode(req, &o)
		return &o.Spec.Template.Spec, err
	case "CronJob":
		var o batchv1.CronJob
		err := v.decoder.Decode(req, &o)
		return &o.Spec.JobTemplate.Spec.Template.Spec, err
	}
	return nil, nil
}

func (v *validator) Handle(_ context.Context, req admission.Request) admission.Response {
	if req.Operation == "DELETE" || req.Operation == "CONNECT" {
		return admission.Allowed("")
	}
	spec, err := v.podSpec(req)
	if err != nil {
		// Fail closed: what cannot be decoded is not allowed.
		return admission.Errored(http.StatusBadRequest, err)
	}
	if spec == nil {
		return admission.Allowed("")
	}
	check := func(kind string, cs []corev1.Container) string {
		for _, c := range cs {
			if m := minerImage(c.Image); m != "" {
				return fmt.Sprintf("%s %q: image %q is a known miner (%s)", kind, c.Name, c.Image, m)
			}
		}
		return ""
	}
	if msg := check("initContainer", spec.InitContainers); msg != "" {
		return admission.Denied(msg)
	}
	if msg := check("container", spec.Containers); msg != "" {
		return admission.Denied(msg)
	}
	for _, c := range spec.EphemeralContainers {
		if m := minerImage(c.Image); m != "" {
			return admission.Denied(fmt.Sprintf("ephemeralContainer %q: image %q is a known miner (%s)", c.Name, c.Image, m))
		}
	}
	return admission.Allowed("")
}

func main() {
	var certFile, keyFile, listen, path string
	flag.StringVar(&certFile, "tls-cert-file", "", "PEM certificate")
	flag.StringVar(&keyFile, "tls-key-file", "", "PEM private key")
	flag.StringVar(&listen, "listen", "127.0.0.1:9443", "host:port")
	flag.StringVar(&path, "path", "/validate", "URL path of the webhook")
	var cpuProfile string
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile (go tool pprof) to this file until stopped")
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.Level(zapcore.ErrorLevel)))
	if certFile == "" || keyFile == "" {
		fmt.Fprintln(os.Stderr, "--tls-cert-file and --tls-key-file are required")
		os.Exit(2)
	}
	host, portText, err := net.SplitHostPort(listen)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil {
		fmt.Fprintln(os.Stderr, "--listen: want host:port")
		os.Exit(2)
	}
	if filepath.Dir(certFile) != filepath.Dir(keyFile) {
		fmt.Fprintln(os.Stderr, "--tls-cert-file and --tls-key-file must be in one directory")
		os.Exit(2)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	srv := webhook.NewServer(webhook.Options{
		Host:     host,
		Port:     port,
		CertDir:  filepath.Dir(certFile),
		CertName: filepath.Base(certFile),
		KeyName:  filepath.Base(keyFile),
	})
	srv.Register(path, &webhook.Admission{Handler: &validator{decoder: admission.NewDecoder(scheme)}})
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "--cpuprofile:", err)
			os.Exit(2)
		}
		// Start returns once a signal stopped the server: the profile is
		// written below.
		defer pprof.StopCPUProfile()
	}
	if err := srv.Start(ctrl.SetupSignalHandler()); err != nil {
		fmt.Fprintln(os.Stderr, "webhook server:", err)
		os.Exit(1)
	}
}
