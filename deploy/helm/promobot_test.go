// Package helm_test renders the promobot chart (deploy/helm/promobot) with
// Helm's own SDK and checks what comes out: `helm lint`, strict decoding of
// every object into its Kubernetes API type, the promobot command lines
// against the real binary's flags, the wiring between objects, and that the
// raw manifests in deploy/kubernetes are the chart's current output.
// Nothing here needs a cluster or the network.
package helm_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
)

const (
	chartDir    = "promobot"
	releaseName = "promobot"
	namespace   = "promobot"
	// The oldest Kubernetes the chart supports (Chart.yaml kubeVersion).
	minKubeVersion = "v1.30.0"
)

var update = flag.Bool("update", false, "rewrite deploy/kubernetes/*.yaml from the chart")

// promobotBin is the promobot binary built once for the whole package.
var promobotBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "promobot-chart-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	promobotBin = filepath.Join(dir, "promobot")
	build := exec.Command(goTool(), "build", "-o", promobotBin, "./cmd/promobot")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build promobot: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// valueSet is one way of installing the chart.
type valueSet struct {
	name  string
	files []string       // values files, in order (like helm -f)
	set   map[string]any // applied last (like --set)
	mode  string         // the mode it renders
}

// valueSets are the installations every check runs over. The first three are
// the shapes the chart is for; the rest cover the remaining switches.
func valueSets() []valueSet {
	return []valueSet{
		{name: "single-default", files: []string{"testdata/single-default.yaml"}, mode: "single"},
		{name: "scaled-nats", files: []string{"testdata/scaled-nats.yaml"}, mode: "scaled"},
		{name: "scaled-external", files: []string{"testdata/scaled-external.yaml"}, mode: "scaled"},
		{name: "single-token-ephemeral", mode: "single", set: map[string]any{
			"credentials": map[string]any{"auth": "token", "existingSecret": "gh"},
			"server": map[string]any{
				"persistence": map[string]any{"enabled": false},
				"concurrency": nil,
				"extraArgs":   []any{"--log-format=console"},
				"extraEnv":    []any{map[string]any{"name": "PROMOBOT_LOG_LEVEL", "value": "warn"}},
			},
			"promobot": map[string]any{
				"leaseTTL": "5m", "ackWait": "30s", "githubPace": "0s", "githubApiUrl": "https://github.example.com",
				"githubWritesPerMinute": 60, "githubWritesPerHour": 400, "redeliverInterval": "0s",
				"repoConfigPath":      ".github/promobot.yml",
				"githubOauthClientId": "Iv1.0123456789abcdef",
			},
			"ingress":       map[string]any{"enabled": true},
			"networkPolicy": map[string]any{"enabled": true},
			"config": map[string]any{
				"rulesKey": "rules.yaml",
				"files":    map[string]any{"rules.yaml": "version: 1\nenvironments:\n  - { name: dev }\nservices: []\n"},
			},
		}},
		{name: "scaled-nats-url-secret", files: []string{"testdata/scaled-external.yaml"}, mode: "scaled", set: map[string]any{
			"nats":  map[string]any{"url": "", "urlSecret": map[string]any{"name": "nats-credentials", "key": "url"}},
			"image": map[string]any{"digest": "sha256:" + strings.Repeat("ab", 32)},
			"config": map[string]any{
				"existingConfigMap": "my-rules",
			},
			"serviceAccount": map[string]any{"create": false, "name": "promobot-sa"},
			// The status page is served by the workers in this shape (they hold the mirrors).
			"promobot": map[string]any{"githubOauthClientId": "Iv1.0123456789abcdef", "publicUrl": "https://promobot.example.com"},
		}},
	}
}

// generatedKey is a private key made for this test run (no key is committed).
var generatedKey = func() string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}()

func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return ch
}

// values reads a value set's files and overrides, as helm -f ... --set would.
func (vs valueSet) values(t testing.TB) map[string]any {
	t.Helper()
	vals := map[string]any{}
	for _, f := range vs.files {
		v, err := chartutil.ReadValuesFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		vals = mergeValues(vals, v.AsMap())
	}
	vals = mergeValues(vals, deepCopy(vs.set).(map[string]any))
	if c, ok := vals["credentials"].(map[string]any); ok && c["privateKey"] == "@generated" {
		c["privateKey"] = generatedKey
	}
	return vals
}

func mergeValues(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = mergeValues(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func deepCopy(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = deepCopy(e)
		}
		return s
	case nil:
		return nil
	default:
		return v
	}
}

// rendered is the chart's output for one value set, as `helm template` shows it.
type rendered struct {
	values    map[string]any // the user values
	manifests []releaseutil.Manifest
	notes     string
}

// render renders the chart the way `helm install`/`helm template` does:
// schema validation, the templates, then Helm's install order.
func render(t testing.TB, ch *chart.Chart, vals map[string]any) (*rendered, error) {
	t.Helper()
	caps := chartutil.DefaultCapabilities.Copy()
	kv, err := chartutil.ParseKubeVersion(minKubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	caps.KubeVersion = *kv
	if !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		t.Fatalf("chart kubeVersion %q excludes %s", ch.Metadata.KubeVersion, minKubeVersion)
	}
	opts := chartutil.ReleaseOptions{Name: releaseName, Namespace: namespace, Revision: 1, IsInstall: true}
	rv, err := chartutil.ToRenderValues(ch, vals, opts, caps)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		return nil, err
	}
	r := &rendered{values: vals}
	for name, content := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			r.notes = content
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	if len(hooks) > 0 {
		t.Errorf("the chart renders %d hooks; it should render none", len(hooks))
	}
	r.manifests = manifests
	return r, nil
}

func mustRender(t testing.TB, ch *chart.Chart, vs valueSet) *rendered {
	t.Helper()
	r, err := render(t, ch, vs.values(t))
	if err != nil {
		t.Fatalf("render %s: %v", vs.name, err)
	}
	return r
}

// yamlStream is the output `helm template` prints.
func (r *rendered) yamlStream() string {
	var b strings.Builder
	for _, m := range r.manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, strings.TrimSpace(m.Content))
	}
	return b.String()
}

// TestLint runs Helm's linter (the SDK behind `helm lint`) with the chart's
// defaults and with every value set; warnings count as failures.
func TestLint(t *testing.T) {
	kv, err := chartutil.ParseKubeVersion(minKubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	// In lint mode Helm logs each `fail` it skips; that is expected for the
	// chart's defaults, which name no credentials.
	log.SetOutput(io.Discard)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	sets := append([]valueSet{{name: "chart-defaults"}}, valueSets()...)
	for _, vs := range sets {
		t.Run(vs.name, func(t *testing.T) {
			l := lint.AllWithKubeVersionAndSchemaValidation(chartDir, vs.values(t), namespace, kv, false)
			for _, m := range l.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m.Error())
				}
			}
		})
	}
}

// TestShapes renders every value set and runs all object checks over it.
func TestShapes(t *testing.T) {
	ch := loadChart(t)
	for _, vs := range valueSets() {
		t.Run(vs.name, func(t *testing.T) {
			r := mustRender(t, ch, vs)
			objs := decodeAll(t, r)
			checkRelease(t, vs, r, objs)
		})
	}
}

// TestShapeContents pins what each of the three main shapes consists of.
func TestShapeContents(t *testing.T) {
	ch := loadChart(t)
	want := map[string][]string{
		"single-default": {
			"ServiceAccount/promobot", "Secret/promobot", "ConfigMap/promobot", "Service/promobot",
			"StatefulSet/promobot",
		},
		"scaled-nats": {
			"NetworkPolicy/promobot-webhook", "NetworkPolicy/promobot-worker", "NetworkPolicy/promobot-nats",
			"PodDisruptionBudget/promobot-webhook", "PodDisruptionBudget/promobot-worker", "PodDisruptionBudget/promobot-nats",
			"ServiceAccount/promobot", "Secret/promobot", "ConfigMap/promobot", "ConfigMap/promobot-nats",
			"Service/promobot-nats", "Service/promobot-nats-headless", "Service/promobot", "Service/promobot-worker",
			"Deployment/promobot-webhook", "Deployment/promobot-worker", "HorizontalPodAutoscaler/promobot-worker",
			"StatefulSet/promobot-nats", "Ingress/promobot",
		},
		"scaled-external": {
			"NetworkPolicy/promobot-webhook", "NetworkPolicy/promobot-worker",
			"PodDisruptionBudget/promobot-webhook", "PodDisruptionBudget/promobot-worker",
			"ServiceAccount/promobot", "ConfigMap/promobot", "Service/promobot", "Service/promobot-worker",
			"Deployment/promobot-webhook", "Deployment/promobot-worker", "ServiceMonitor/promobot",
		},
	}
	for _, vs := range valueSets() {
		w, ok := want[vs.name]
		if !ok {
			continue
		}
		t.Run(vs.name, func(t *testing.T) {
			objs := decodeAll(t, mustRender(t, ch, vs))
			var got []string
			for _, o := range objs {
				got = append(got, o.kind+"/"+o.name)
			}
			sort.Strings(got)
			sort.Strings(w)
			if strings.Join(got, "\n") != strings.Join(w, "\n") {
				t.Errorf("objects:\n got %v\nwant %v", got, w)
			}
		})
	}
}

// TestRefusals: configurations the chart must refuse, with a message that
// says what to do.
func TestRefusals(t *testing.T) {
	ch := loadChart(t)
	cases := []struct {
		name string
		vals map[string]any
		want string
	}{
		{"no credentials", map[string]any{}, "credentials: set credentials.existingSecret"},
		{"app without key", map[string]any{"credentials": map[string]any{"webhookSecret": "x", "appId": "1"}}, "auth=app needs"},
		{"key not PEM", map[string]any{"credentials": map[string]any{"webhookSecret": "x", "appId": "1", "privateKey": "app.pem"}}, "not a PEM private key"},
		{"token missing", map[string]any{"credentials": map[string]any{"auth": "token", "webhookSecret": "x"}}, "auth=token needs"},
		{"unknown key", map[string]any{"credentials": map[string]any{"existingSecret": "s"}, "replicas": 3}, "additional properties 'replicas' not allowed"},
		{"unknown nested key", map[string]any{"credentials": map[string]any{"existingSecret": "s"}, "worker": map[string]any{"replica": 3}}, "additional properties 'replica' not allowed"},
		{"bad mode", map[string]any{"credentials": map[string]any{"existingSecret": "s"}, "mode": "split"}, "/mode"},
		{"bad duration", map[string]any{"credentials": map[string]any{"existingSecret": "s"}, "promobot": map[string]any{"ackWait": "2 minutes"}}, "/promobot/ackWait"},
		{"two NATS URLs", map[string]any{"credentials": map[string]any{"existingSecret": "s"}, "mode": "scaled",
			"nats": map[string]any{"url": "nats://a:4222", "urlSecret": map[string]any{"name": "n"}}}, "not both"},
		{"rules key missing", map[string]any{"credentials": map[string]any{"existingSecret": "s"}, "config": map[string]any{"rulesKey": "other.yaml"}}, `no "other.yaml"`},
		{"hpa bounds", map[string]any{"credentials": map[string]any{"existingSecret": "s"}, "mode": "scaled",
			"worker": map[string]any{"autoscaling": map[string]any{"minReplicas": 5, "maxReplicas": 2}}}, "minReplicas is above maxReplicas"},
		{"NATS cluster of 2", map[string]any{"credentials": map[string]any{"existingSecret": "s"}, "mode": "scaled",
			"nats": map[string]any{"cluster": map[string]any{"replicas": 2}}}, "/nats/cluster/replicas"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := render(t, ch, c.vals)
			if err == nil {
				t.Fatalf("rendered; want an error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

// kubernetesManifests are the raw manifests in deploy/kubernetes, each the
// chart's output for the values file next to it.
var kubernetesManifests = []struct{ out, values string }{
	{"../kubernetes/single.yaml", "../kubernetes/single.values.yaml"},
	{"../kubernetes/scaled.yaml", "../kubernetes/scaled.values.yaml"},
}

const regenerate = "go test ./deploy/helm -run TestKubernetesManifests -update"

// TestKubernetesManifests keeps deploy/kubernetes generated from the chart:
// it fails when a file differs from what the chart renders now, and rewrites
// them with -update.
func TestKubernetesManifests(t *testing.T) {
	ch := loadChart(t)
	for _, km := range kubernetesManifests {
		t.Run(filepath.Base(km.out), func(t *testing.T) {
			vs := valueSet{name: km.out, files: []string{km.values}}
			r := mustRender(t, ch, vs)
			decodeAll(t, r) // the generated files pass the same strict decoding
			want := manifestHeader(km.out, km.values) + r.yamlStream()
			if *update {
				if err := os.WriteFile(km.out, []byte(want), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			got, err := os.ReadFile(km.out)
			if err != nil {
				t.Fatalf("%v (generate it: %s)", err, regenerate)
			}
			if !bytes.Equal(got, []byte(want)) {
				t.Errorf("%s is not the chart's current output; regenerate it: %s", km.out, regenerate)
			}
		})
	}
	// No other file may sit in deploy/kubernetes: a hand-written manifest
	// there would be a second source.
	entries, err := os.ReadDir("../kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, km := range kubernetesManifests {
		known[filepath.Base(km.out)] = true
		known[filepath.Base(km.values)] = true
	}
	for _, e := range entries {
		if !known[e.Name()] {
			t.Errorf("deploy/kubernetes/%s is not generated from the chart; move it into deploy/helm/promobot", e.Name())
		}
	}
}

func manifestHeader(out, values string) string {
	base := strings.TrimPrefix(out, "../")
	vals := strings.TrimPrefix(values, "../")
	return fmt.Sprintf(`# Generated from the Helm chart deploy/helm/promobot with deploy/%s
# (release %q, namespace %q). Do not edit: change the chart or the values file, then
#   %s
# The same objects as "helm template %s deploy/helm/promobot -n %s -f deploy/%s".
#
# Install:
#   kubectl create namespace %s
#   kubectl -n %s create secret generic promobot --from-literal=app-id=123456 \
#     --from-file=private-key.pem=app.private-key.pem --from-literal=webhook-secret="$(openssl rand -hex 32)"
#   kubectl -n %s apply -f deploy/%s
# The rules are in ConfigMap promobot (key promotion-rules.yaml): edit them there, or
# set config.files in the values file and regenerate.
`, vals, releaseName, namespace, regenerate, releaseName, namespace, vals, namespace, namespace, namespace, base)
}
