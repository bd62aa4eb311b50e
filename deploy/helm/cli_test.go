package helm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	yamlv3 "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
)

// The promobot command each component runs.
var subcommands = map[string]string{"server": "serve", "webhook": "webhook", "worker": "worker"}

// notByChart are the promobot flags the chart deliberately never sets.
var notByChart = map[string]string{
	"help":                  "cobra's own",
	"insecure-no-signature": "accepts unsigned webhooks: for local experiments, never a deployment",
	"ui-no-auth":            "serves repository contents to everyone without sign-in: local use only, never a deployment",
}

// githubOnly are the flags of the processes that call GitHub (serve and
// worker): credentials, GitHub pacing and budgets, the delivery reconciler,
// and the data directory with the mirrors.
var githubOnly = []string{
	"app-id", "private-key-file", "github-api-url", "github-pace", "github-writes-per-minute",
	"github-writes-per-hour", "workers", "data-dir", "redeliver-interval", "public-url",
	"github-oauth-client-id", "github-oauth-client-secret-file", // the status page reads the mirrors
}

type flagInfo struct {
	takesValue bool
	env        []string // the PROMOBOT_* variables its help line names
}

type commandHelp struct {
	flags map[string]flagInfo
	env   map[string]bool
}

var (
	helpMu    sync.Mutex
	helpCache = map[string]*commandHelp{}
	// "      --ack-wait duration   how long ..." / "  -h, --help   help for serve"
	flagLine = regexp.MustCompile(`^\s+(?:-[a-zA-Z], )?--([a-z0-9][a-z0-9-]*)(?: ([a-zA-Z0-9.]+))?(?:\s{2,}(.*))?$`)
	envName  = regexp.MustCompile(`\$(PROMOBOT_[A-Z0-9_]+)`)
)

// helpFor parses `promobot <sub> --help` of the binary built in TestMain.
func helpFor(t *testing.T, sub string) *commandHelp {
	t.Helper()
	helpMu.Lock()
	defer helpMu.Unlock()
	if h, ok := helpCache[sub]; ok {
		return h
	}
	out, err := runPromobot(t, nil, sub, "--help")
	if err != nil {
		t.Fatalf("promobot %s --help: %v\n%s", sub, err, out)
	}
	h := &commandHelp{flags: map[string]flagInfo{}, env: map[string]bool{}}
	inFlags := false
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasSuffix(line, "Flags:"):
			inFlags = true
			continue
		case strings.TrimSpace(line) == "":
			inFlags = false
			continue
		}
		if !inFlags {
			continue
		}
		m := flagLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("promobot %s --help: cannot read flag line %q", sub, line)
		}
		fi := flagInfo{takesValue: m[2] != ""}
		for _, e := range envName.FindAllStringSubmatch(m[3], -1) {
			fi.env = append(fi.env, e[1])
			h.env[e[1]] = true
		}
		h.flags[m[1]] = fi
	}
	if len(h.flags) < 5 {
		t.Fatalf("promobot %s --help lists only %d flags:\n%s", sub, len(h.flags), out)
	}
	helpCache[sub] = h
	return h
}

// readmeEnv are the PROMOBOT_* variables of the README's "Running it" table
// (PROMOBOT_GITHUB_TOKEN is documented there only).
func readmeEnv(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	start := strings.Index(s, "## Running it")
	if start < 0 {
		t.Fatal(`README.md has no "## Running it" section`)
	}
	s = s[start+len("## Running it"):]
	if end := strings.Index(s, "\n## "); end >= 0 {
		s = s[:end]
	}
	env := map[string]bool{}
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "|") {
			continue
		}
		for _, m := range regexp.MustCompile(`\bPROMOBOT_[A-Z0-9_]+`).FindAllString(line, -1) {
			env[m] = true
		}
	}
	if len(env) < 5 {
		t.Fatalf("README.md's Running it table names only %v", env)
	}
	return env
}

func runPromobot(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promobotBin, args...)
	// Only the variables given: the developer's own PROMOBOT_* must not leak in.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// parseArgs reads a container's args against the subcommand's flags; the
// last of repeated flags wins, as in pflag.
func parseArgs(t *testing.T, id, sub string, args []string) map[string]string {
	t.Helper()
	h := helpFor(t, sub)
	if len(args) == 0 || args[0] != sub {
		t.Errorf("%s: args %v do not start with the subcommand %q", id, args, sub)
		return nil
	}
	vals := map[string]string{}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			t.Errorf("%s: %q is not a flag (promobot %s takes no arguments)", id, a, sub)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		fi, ok := h.flags[name]
		if !ok {
			t.Errorf("%s: promobot %s has no flag --%s", id, sub, name)
			continue
		}
		if reason, never := notByChart[name]; never {
			t.Errorf("%s: sets --%s (%s)", id, name, reason)
		}
		switch {
		case hasValue:
		case fi.takesValue:
			if i+1 >= len(args) || strings.HasPrefix(args[i+1], "--") {
				t.Errorf("%s: --%s needs a value", id, name)
				continue
			}
			i++
			value = args[i]
		default:
			value = "true"
		}
		vals[name] = value
	}
	return vals
}

// flagValues reads --name=value args without checking them.
func flagValues(args []string) map[string]string {
	vals := map[string]string{}
	for _, a := range args {
		if name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "="); ok && strings.HasPrefix(a, "--") {
			vals[name] = value
		}
	}
	return vals
}

// checkPromobot checks each promobot container's command line and
// environment against the binary, and against the objects it refers to.
func checkPromobot(t *testing.T, rel *release) {
	documented := readmeEnv(t)
	queueFlags := map[string]string{}
	for _, w := range rel.workloads {
		comp := component(w.obj)
		if comp == "nats" {
			continue
		}
		sub, ok := subcommands[comp]
		if !ok {
			t.Errorf("%s/%s: unknown component %q", w.obj.kind, w.obj.name, comp)
			continue
		}
		if len(w.template.Spec.Containers) != 1 {
			t.Errorf("%s: %d containers, want 1", w.obj.name, len(w.template.Spec.Containers))
			continue
		}
		c := w.template.Spec.Containers[0]
		id := fmt.Sprintf("%s/%s (promobot %s)", w.obj.kind, w.obj.name, sub)
		if len(c.Command) > 0 {
			t.Errorf("%s: command %v overrides the image's entrypoint", id, c.Command)
		}
		flags := parseArgs(t, id, sub, c.Args)
		h := helpFor(t, sub)

		// The binary itself parses the command line: unknown flags and
		// malformed values (durations, numbers) fail here.
		var literalEnv []string
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				literalEnv = append(literalEnv, e.Name+"="+e.Value)
			}
		}
		if out, err := runPromobot(t, literalEnv, append(slices.Clone(c.Args), "--help")...); err != nil {
			t.Errorf("%s: promobot rejects the command line %v: %v\n%s", id, c.Args, err, out)
		}

		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			if !strings.HasPrefix(e.Name, "PROMOBOT_") {
				t.Errorf("%s: env %s is not a promobot variable", id, e.Name)
			}
			if !h.env[e.Name] && !documented[e.Name] {
				t.Errorf("%s: env %s is neither in `promobot %s --help` nor in the README's table", id, e.Name, sub)
			}
			if _, dup := env[e.Name]; dup {
				t.Errorf("%s: env %s set twice", id, e.Name)
			}
			env[e.Name] = e
			if ref := e.ValueFrom; ref != nil {
				if ref.SecretKeyRef == nil {
					t.Errorf("%s: env %s comes from something other than a Secret", id, e.Name)
					continue
				}
				checkSecretRef(t, rel, id+" env "+e.Name, ref.SecretKeyRef.Name, ref.SecretKeyRef.Key)
			}
		}

		for _, f := range []string{"rules", "listen", "log-format", "log-level"} {
			if _, ok := flags[f]; !ok {
				t.Errorf("%s: --%s is not set", id, f)
			}
		}
		for _, f := range []string{"ack-wait", "lease-ttl"} {
			// Every process creates or updates the consumer and the lease
			// bucket with these: they must agree.
			if prev, seen := queueFlags[f]; seen && prev != flags[f] {
				t.Errorf("%s: --%s=%q differs from another process's %q", id, f, flags[f], prev)
			}
			queueFlags[f] = flags[f]
		}

		// --rules: a file of the ConfigMap, mounted as a directory.
		checkFileOnVolume(t, rel, w, c, id, "rules", flags["rules"], "configMap")

		// --listen: the http port, which the probes use.
		port, ok := containerPort(w, "http")
		if !ok || flags["listen"] != ":"+strconv.Itoa(int(port)) {
			t.Errorf("%s: --listen=%s but the http container port is %d", id, flags["listen"], port)
		}
		for what, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
			want := map[string]string{"liveness": "/healthz", "readiness": "/readyz", "startup": "/healthz"}[what]
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.StrVal != "http" {
				t.Errorf("%s: %s probe is not GET %s on the http port: %+v", id, what, want, p)
			}
		}

		github := comp != "webhook"
		webhook := comp != "worker"
		auth, _ := nested(rel.r.values, "credentials", "auth").(string)
		if auth == "" {
			auth = "app"
		}
		if github {
			checkDataDir(t, w, c, id, flags["data-dir"])
			if comp == "server" && nested(rel.r.values, "server", "persistence", "enabled") != false {
				// The embedded JetStream holds the queued intents.
				if m, _, ok := mountFor(c, flags["data-dir"]+"/jetstream"); !ok || !isClaim(w, m.Name) {
					t.Errorf("%s: --data-dir=%s is not on a PersistentVolumeClaim", id, flags["data-dir"])
				}
			}
			switch auth {
			case "app":
				checkFileOnVolume(t, rel, w, c, id, "private-key-file", flags["private-key-file"], "secret")
				if _, ok := env["PROMOBOT_APP_ID"]; !ok {
					t.Errorf("%s: no PROMOBOT_APP_ID", id)
				}
			case "token":
				if _, ok := env["PROMOBOT_GITHUB_TOKEN"]; !ok {
					t.Errorf("%s: no PROMOBOT_GITHUB_TOKEN", id)
				}
			}
		} else {
			for _, f := range githubOnly {
				if _, ok := flags[f]; ok {
					t.Errorf("%s: sets --%s; the webhook half never calls GitHub", id, f)
				}
			}
			for _, e := range []string{"PROMOBOT_APP_ID", "PROMOBOT_GITHUB_TOKEN", "PROMOBOT_PRIVATE_KEY_FILE"} {
				if _, ok := env[e]; ok {
					t.Errorf("%s: gets %s; the webhook half never calls GitHub", id, e)
				}
			}
		}
		if webhook {
			checkFileOnVolume(t, rel, w, c, id, "webhook-secret-file", flags["webhook-secret-file"], "secret")
		} else if _, ok := flags["webhook-secret-file"]; ok {
			t.Errorf("%s: the worker gets the webhook secret", id)
		}
		if comp == "server" {
			if _, ok := flags["nats-url"]; ok {
				t.Errorf("%s: serve runs the embedded NATS; --nats-url would bypass it", id)
			}
		} else if _, ok := env["PROMOBOT_NATS_URL"]; !ok && flags["nats-url"] == "" {
			t.Errorf("%s: promobot %s needs --nats-url or PROMOBOT_NATS_URL", id, sub)
		}
		if url, _ := nested(rel.r.values, "nats", "url").(string); url != "" && comp != "server" && flags["nats-url"] != url {
			t.Errorf("%s: --nats-url=%s, want nats.url %s", id, flags["nats-url"], url)
		}
		for value, flag := range map[string]string{"ackWait": "ack-wait", "leaseTTL": "lease-ttl", "githubApiUrl": "github-api-url",
			"githubPace": "github-pace", "logLevel": "log-level", "publicUrl": "public-url", "redeliverInterval": "redeliver-interval",
			"repoConfigPath": "repo-config-path"} {
			v, _ := nested(rel.r.values, "promobot", value).(string)
			if _, set := flags[flag]; v != "" && set && flags[flag] != v {
				t.Errorf("%s: --%s=%s, want promobot.%s %s", id, flag, flags[flag], value, v)
			}
		}
	}
}

// checkFileOnVolume: the file a flag names lies on a volume of the given
// kind, mounted as a directory, and the ConfigMap or Secret item exists.
func checkFileOnVolume(t *testing.T, rel *release, w workload, c corev1.Container, id, flag, file, kind string) {
	t.Helper()
	if file == "" {
		t.Errorf("%s: --%s is not set", id, flag)
		return
	}
	m, rest, ok := mountFor(c, file)
	if !ok {
		t.Errorf("%s: --%s=%s is on no volume", id, flag, file)
		return
	}
	if !m.ReadOnly || m.SubPath != "" {
		t.Errorf("%s: --%s: %s must be mounted read-only as a directory", id, flag, m.Name)
	}
	v, _ := volume(w, m.Name)
	switch kind {
	case "configMap":
		if v.ConfigMap == nil {
			t.Errorf("%s: --%s=%s is not on a ConfigMap volume", id, flag, file)
			return
		}
		if len(v.ConfigMap.Items) > 0 {
			t.Errorf("%s: ConfigMap volume %s picks items; later files (policy) would not appear", id, m.Name)
		}
		if cm, ok := rel.get("ConfigMap", v.ConfigMap.Name); ok {
			if _, ok := cm.typed.(*corev1.ConfigMap).Data[rest]; !ok {
				t.Errorf("%s: --%s=%s: ConfigMap %s has no key %q", id, flag, file, cm.name, rest)
			}
		} else if want, _ := nested(rel.r.values, "config", "existingConfigMap").(string); want == "" || v.ConfigMap.Name != want {
			t.Errorf("%s: --%s: ConfigMap %s is neither rendered nor config.existingConfigMap", id, flag, v.ConfigMap.Name)
		}
	case "secret":
		if v.Secret == nil {
			t.Errorf("%s: --%s=%s is not on a Secret volume", id, flag, file)
			return
		}
		i := slices.IndexFunc(v.Secret.Items, func(it corev1.KeyToPath) bool { return it.Path == rest })
		if i < 0 {
			t.Errorf("%s: --%s=%s: Secret volume %s has no item at %s", id, flag, file, m.Name, rest)
			return
		}
		checkSecretRef(t, rel, id+" --"+flag, v.Secret.SecretName, v.Secret.Items[i].Key)
		if v.Secret.DefaultMode != nil && *v.Secret.DefaultMode&0o007 != 0 {
			t.Errorf("%s: Secret volume %s is world-readable (mode %o)", id, m.Name, *v.Secret.DefaultMode)
		}
	}
}

// checkSecretRef: a Secret the chart renders has the key; otherwise it is the
// Secret the values name.
func checkSecretRef(t *testing.T, rel *release, what, name, key string) {
	t.Helper()
	if s, ok := rel.get("Secret", name); ok {
		if _, ok := s.typed.(*corev1.Secret).Data[key]; !ok {
			t.Errorf("%s: Secret %s has no key %q", what, name, key)
		}
		return
	}
	existing, _ := nested(rel.r.values, "credentials", "existingSecret").(string)
	natsSecret, _ := nested(rel.r.values, "nats", "urlSecret", "name").(string)
	if name != existing && name != natsSecret {
		t.Errorf("%s: Secret %s is neither rendered nor named in the values", what, name)
	}
}

func checkDataDir(t *testing.T, w workload, c corev1.Container, id, dir string) {
	t.Helper()
	if dir == "" {
		t.Errorf("%s: --data-dir is not set (the default ./data is on the read-only root filesystem)", id)
		return
	}
	m, _, ok := mountFor(c, dir+"/mirrors")
	if !ok || m.ReadOnly {
		t.Errorf("%s: --data-dir=%s is not on a writable volume", id, dir)
		return
	}
	v, _ := volume(w, m.Name)
	if v.PersistentVolumeClaim == nil && v.EmptyDir == nil && v.Ephemeral == nil {
		t.Errorf("%s: --data-dir=%s is on %s, not a claim, ephemeral claim or emptyDir", id, dir, m.Name)
	}
}

func isClaim(w workload, name string) bool {
	v, ok := volume(w, name)
	return ok && v.PersistentVolumeClaim != nil
}

// TestEveryFlagIsSetByTheChart: each promobot server flag is set by the
// chart (as a flag or through its PROMOBOT_* variable) in some value set, so
// a flag added to promobot shows up here until the chart has a value for it.
func TestEveryFlagIsSetByTheChart(t *testing.T) {
	ch := loadChart(t)
	used := map[string]map[string]bool{} // subcommand → flags set
	for _, vs := range valueSets() {
		r := mustRender(t, ch, vs)
		rel := newRelease(vs, r, decodeAll(t, r))
		for _, w := range rel.workloads {
			sub, ok := subcommands[component(w.obj)]
			if !ok {
				continue
			}
			if used[sub] == nil {
				used[sub] = map[string]bool{}
			}
			c := w.template.Spec.Containers[0]
			for f := range flagValues(c.Args) {
				used[sub][f] = true
			}
			for f, fi := range helpFor(t, sub).flags {
				for _, e := range c.Env {
					if slices.Contains(fi.env, e.Name) {
						used[sub][f] = true
					}
				}
			}
		}
	}
	for _, sub := range []string{"serve", "webhook", "worker"} {
		var all []string
		for f := range helpFor(t, sub).flags {
			all = append(all, f)
		}
		sort.Strings(all)
		for _, f := range all {
			if _, never := notByChart[f]; never {
				continue
			}
			// The webhook half does not use the GitHub and worker flags.
			if sub == "webhook" && slices.Contains(githubOnly, f) {
				continue
			}
			if sub == "worker" && f == "webhook-secret-file" {
				continue
			}
			if sub == "serve" && (f == "nats-url" || f == "stream-replicas") {
				continue // serve runs the embedded NATS server, one node: replicas 1
			}
			if !used[sub][f] {
				t.Errorf("promobot %s --%s is set by the chart in no value set: add a value for it to values.yaml "+
					"(with a comment and a schema entry) and use it in a value set, or list it in notByChart with the reason", sub, f)
			}
		}
	}
}

// TestValuesDocumented: every key of values.yaml has a comment and a schema
// entry with a description (Kubernetes objects passed through as they are,
// like resources, are documented by their parent key).
func TestValuesDocumented(t *testing.T) {
	data, err := os.ReadFile(chartDir + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	sb, err := os.ReadFile(chartDir + "/values.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(sb, &schema); err != nil {
		t.Fatal(err)
	}
	passThrough := map[string]bool{
		"podSecurityContext": true, "securityContext": true, "resources": true, "behavior": true,
		"topologySpreadConstraints": true, "ingressFrom": true, "metricsFrom": true, "dnsTo": true, "to": true,
		"files": true, "tls": true, "annotations": true, "podAnnotations": true, "podLabels": true, "labels": true,
		"nodeSelector": true, "tolerations": true, "affinity": true, "extraArgs": true, "extraEnv": true,
		"imagePullSecrets": true, "accessModes": true, "ports": true,
	}
	var walk func(n *yamlv3.Node, sch map[string]any, path string)
	walk = func(n *yamlv3.Node, sch map[string]any, path string) {
		props, _ := sch["properties"].(map[string]any)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := strings.TrimPrefix(path+"."+k.Value, ".")
			if strings.TrimSpace(k.HeadComment+k.LineComment+v.LineComment) == "" {
				t.Errorf("values.yaml: %s has no comment", p)
			}
			ks, ok := props[k.Value].(map[string]any)
			if !ok {
				t.Errorf("values.schema.json: no entry for %s", p)
				continue
			}
			if d, _ := ks["description"].(string); d == "" {
				t.Errorf("values.schema.json: %s has no description", p)
			}
			if v.Kind == yamlv3.MappingNode && !passThrough[k.Value] {
				walk(v, ks, p)
			}
		}
	}
	walk(doc.Content[0], schema, "")
}
