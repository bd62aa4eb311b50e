package helm_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pageRequests are requests a browser or a script makes to the status page
// (internal/ui): the matrix, a timeline, the JSON API, the stylesheet and
// the sign-in flow.
var pageRequests = []string{
	"/", "/repos/acme/gitops/services/payment-service", "/api/v1/status",
	"/api/v1/repos/acme/gitops/services/payment-service", "/ui/style.css",
	"/auth/login", "/auth/callback", "/auth/logout",
}

// insideOnly are promobot's endpoints that stay inside the cluster.
var insideOnly = []string{"/metrics", "/healthz", "/readyz"}

const testOAuthClient = "Iv1.0123456789abcdef"

// TestStatusPageIsRouted: in every shape, with sign-in configured, each
// status page request that arrives at the Ingress reaches pods that serve
// the page: a process holding the git mirrors (serve, or worker in the
// scaled shape; a webhook-only process has none) started with the OAuth
// client, its secret and the public URL; GitHub's callback URL lands on
// those pods; the NetworkPolicy lets the ingress controller in. Without
// sign-in no page path is routed.
func TestStatusPageIsRouted(t *testing.T) {
	oauth := map[string]any{
		"promobot":    map[string]any{"githubOauthClientId": testOAuthClient},
		"credentials": map[string]any{"oauthClientSecret": strings.Repeat("c0ffee", 7)},
	}
	withIngress := map[string]any{
		"ingress":       map[string]any{"enabled": true, "host": "promobot.example.com"},
		"networkPolicy": map[string]any{"enabled": true},
	}
	tests := []struct {
		vs   valueSet
		page bool
	}{
		{valueSet{name: "single", files: []string{"testdata/single-default.yaml"}, mode: "single", set: mergeValues(oauth, withIngress)}, true},
		{valueSet{name: "scaled chart nats", files: []string{"testdata/scaled-nats.yaml"}, mode: "scaled"}, true},
		{valueSet{name: "scaled external nats, existing secret", files: []string{"testdata/scaled-external.yaml"}, mode: "scaled",
			set: mergeValues(map[string]any{"promobot": map[string]any{"githubOauthClientId": testOAuthClient}}, withIngress)}, true},
		{valueSet{name: "scaled one worker, public url with path", files: []string{"testdata/scaled-nats.yaml"}, mode: "scaled",
			set: map[string]any{
				"worker":   map[string]any{"replicas": 1, "autoscaling": map[string]any{"enabled": false}, "pdb": map[string]any{"enabled": false}},
				"promobot": map[string]any{"publicUrl": "https://promobot.example.com/webhook"},
			}}, true},
		{valueSet{name: "single without sign-in", files: []string{"testdata/single-default.yaml"}, mode: "single", set: withIngress}, false},
		{valueSet{name: "scaled without sign-in", files: []string{"testdata/scaled-external.yaml"}, mode: "scaled", set: withIngress}, false},
	}
	ch := loadChart(t)
	for _, tt := range tests {
		t.Run(tt.vs.name, func(t *testing.T) {
			r := mustRender(t, ch, tt.vs)
			rel := newRelease(tt.vs, r, decodeAll(t, r))
			var ing *networkingv1.Ingress
			for _, o := range rel.objs {
				if x, ok := o.typed.(*networkingv1.Ingress); ok {
					ing = x
				}
			}
			if ing == nil || len(ing.Spec.Rules) != 1 {
				t.Fatalf("want one Ingress with one rule, got %+v", ing)
			}
			host := ing.Spec.Rules[0].Host

			for _, p := range insideOnly {
				if b := ingressRoute(ing, host, p); b != nil {
					t.Errorf("%s is routed from outside (to Service %s)", p, b.Name)
				}
			}
			if ws := routedPods(t, rel, ing, host, "/webhook"); len(ws) == 0 {
				t.Errorf("/webhook reaches no pods")
			} else {
				for _, w := range ws {
					if c := component(w.obj); c != "server" && c != "webhook" {
						t.Errorf("/webhook reaches %s pods, which do not take deliveries", c)
					}
				}
			}

			for _, p := range pageRequests {
				ws := routedPods(t, rel, ing, host, p)
				if !tt.page {
					if len(ws) > 0 {
						t.Errorf("%s is routed although sign-in is not configured (every page path answers 404)", p)
					}
					continue
				}
				if len(ws) == 0 {
					t.Errorf("%s reaches no pods: the status page is unreachable", p)
					continue
				}
				for _, w := range ws {
					checkServesPage(t, rel, w, p)
				}
			}
			if !tt.page {
				return
			}

			// GitHub sends the signed-in user back to --public-url (without
			// its /webhook) + /auth/callback: that URL must come through this
			// Ingress to the pods that serve the page.
			for _, w := range routedPods(t, rel, ing, host, "/") {
				pub := flagValues(w.template.Spec.Containers[0].Args)["public-url"]
				u, err := url.Parse(strings.TrimSuffix(strings.TrimSuffix(pub, "/"), "/webhook") + "/auth/callback")
				if err != nil || u.Scheme != "https" || u.Host != host {
					t.Errorf("%s: callback URL from --public-url=%q is not https on the Ingress host %s", w.obj.name, pub, host)
					continue
				}
				if !strings.Contains(r.notes, "callback URL to "+u.String()) {
					t.Errorf("NOTES.txt does not tell the App's callback URL %s:\n%s", u, r.notes)
				}
				for _, cw := range routedPods(t, rel, ing, u.Host, u.Path) {
					checkServesPage(t, rel, cw, u.Path)
				}
			}

			// Pods of a rolling workload keep answering for a moment after
			// they are marked terminating, until the Ingress has dropped them
			// (promobot closes its listener first thing on SIGTERM).
			for _, w := range routedPods(t, rel, ing, host, "/") {
				if w.replicas != nil && *w.replicas <= 1 && component(w.obj) == "server" {
					continue // the one serve pod: there is no other to go to
				}
				c := w.template.Spec.Containers[0]
				grace := int64(30)
				if g := w.template.Spec.TerminationGracePeriodSeconds; g != nil {
					grace = *g
				}
				if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil ||
					c.Lifecycle.PreStop.Sleep.Seconds <= 0 || c.Lifecycle.PreStop.Sleep.Seconds >= grace {
					t.Errorf("%s serves the page but has no preStop sleep within its grace period: a rollout drops page requests", w.obj.name)
				}
			}

			// The ingress controller may reach every pod that serves the page.
			from := nested(rel.r.values, "networkPolicy", "ingressFrom")
			if from == nil {
				from = defaultValue(t, "networkPolicy", "ingressFrom")
			}
			for _, w := range routedPods(t, rel, ing, host, "/") {
				port, _ := containerPort(w, "http")
				if !admits(t, rel, w, from, port) {
					t.Errorf("%s: no NetworkPolicy admits networkPolicy.ingressFrom on port %d: the page times out", w.obj.name, port)
				}
			}
		})
	}
}

// checkServesPage: w's pods answer the status page for request p.
func checkServesPage(t *testing.T, rel *release, w workload, p string) {
	t.Helper()
	comp := component(w.obj)
	sub := subcommands[comp]
	c := w.template.Spec.Containers[0]
	id := fmt.Sprintf("%s %s/%s (promobot %s)", p, w.obj.kind, w.obj.name, sub)
	if sub != "serve" && sub != "worker" {
		t.Errorf("%s: promobot %s holds no git mirrors and shows an empty page", id, sub)
		return
	}
	flags := parseArgs(t, id, sub, c.Args)
	if flags["github-oauth-client-id"] != testOAuthClient {
		t.Errorf("%s: --github-oauth-client-id=%q, want %q: the page answers 404", id, flags["github-oauth-client-id"], testOAuthClient)
	}
	checkFileOnVolume(t, rel, w, c, id, "github-oauth-client-secret-file", flags["github-oauth-client-secret-file"], "secret")
	if flags["public-url"] == "" {
		t.Errorf("%s: no --public-url: sign-in has no callback URL", id)
	}
	if flags["data-dir"] == "" {
		t.Errorf("%s: no --data-dir: no mirrors to read", id)
	}
}

// routedPods returns the workloads whose pods the Ingress sends a request
// for host and path to (none when no rule matches).
func routedPods(t *testing.T, rel *release, ing *networkingv1.Ingress, host, path string) []workload {
	t.Helper()
	b := ingressRoute(ing, host, path)
	if b == nil {
		return nil
	}
	o, ok := rel.get("Service", b.Name)
	if !ok {
		t.Errorf("%s: backend Service %s is not rendered", path, b.Name)
		return nil
	}
	svc := o.typed.(*corev1.Service)
	if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return b.Port.Name != "" && sp.Name == b.Port.Name }) {
		t.Errorf("%s: Service %s has no port named %q", path, b.Name, b.Port.Name)
		return nil
	}
	ws := rel.selecting(t, "Service/"+o.name, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
	if len(ws) == 0 {
		t.Errorf("%s: Service %s selects no pods", path, b.Name)
	}
	return ws
}

// ingressRoute picks the backend for a request as the Ingress API
// specifies: among the paths of the host's rule, the longest match wins,
// Exact before Prefix; Prefix matches whole path elements.
func ingressRoute(ing *networkingv1.Ingress, host, path string) *networkingv1.IngressServiceBackend {
	var best *networkingv1.HTTPIngressPath
	bestLen, bestExact := -1, false
	for _, rule := range ing.Spec.Rules {
		if rule.Host != "" && rule.Host != host || rule.HTTP == nil {
			continue
		}
		for i := range rule.HTTP.Paths {
			p := &rule.HTTP.Paths[i]
			exact := p.PathType != nil && *p.PathType == networkingv1.PathTypeExact
			var match bool
			if exact {
				match = path == p.Path
			} else {
				match = prefixMatch(p.Path, path)
			}
			if !match {
				continue
			}
			if l := len(strings.TrimSuffix(p.Path, "/")); l > bestLen || l == bestLen && exact && !bestExact {
				best, bestLen, bestExact = p, l, exact
			}
		}
	}
	if best == nil || best.Backend.Service == nil {
		return nil
	}
	return best.Backend.Service
}

// prefixMatch is pathType Prefix: the request path's elements start with
// the prefix's ("/" matches everything; "/foo" matches "/foo/bar", not
// "/foobar").
func prefixMatch(prefix, path string) bool {
	pe := strings.Split(strings.Trim(prefix, "/"), "/")
	if len(pe) == 1 && pe[0] == "" {
		return true
	}
	re := strings.Split(strings.Trim(path, "/"), "/")
	if len(re) < len(pe) {
		return false
	}
	return slices.Equal(pe, re[:len(pe)])
}

// admits reports whether a NetworkPolicy selecting w's pods lets traffic
// from the peers from in on port.
func admits(t *testing.T, rel *release, w workload, from any, port int32) bool {
	t.Helper()
	for name, o := range rel.byKind["NetworkPolicy"] {
		np := o.typed.(*networkingv1.NetworkPolicy)
		if !slices.ContainsFunc(rel.selecting(t, "NetworkPolicy/"+name, &np.Spec.PodSelector), func(x workload) bool { return x.obj.name == w.obj.name }) {
			continue
		}
		for _, rule := range np.Spec.Ingress {
			if !sameJSON(t, rule.From, from) {
				continue
			}
			for _, p := range rule.Ports {
				if p.Port != nil && p.Port.IntValue() == int(port) {
					return true
				}
			}
		}
	}
	return false
}

// TestValueFilesHaveNoDuplicateKeys: Helm keeps the last of two equal keys
// without a word, so a value set's second `promobot:` block silently drops
// the first's settings (it once dropped the OAuth client of scaled-nats).
func TestValueFilesHaveNoDuplicateKeys(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more, err := filepath.Glob("../kubernetes/*.values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range append(append(files, more...), chartDir+"/values.yaml") {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yamlv3.Unmarshal(b, &v); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestStatusPageRefusals: a public URL under a path would send GitHub's
// callback (and every page link) where the Ingress routes nothing.
func TestStatusPageRefusals(t *testing.T) {
	ch := loadChart(t)
	base := map[string]any{
		"credentials": map[string]any{"existingSecret": "s"},
		"ingress":     map[string]any{"enabled": true, "host": "promobot.example.com"},
	}
	cases := []struct {
		name string
		set  map[string]any
		want string // "" renders
	}{
		{"webhook under a path", map[string]any{"ingress": map[string]any{"path": "/promobot/webhook"}}, `under "/promobot"`},
		{"public url under a path", map[string]any{"promobot": map[string]any{"publicUrl": "https://example.com/tools/promobot"}}, `under "/tools/promobot"`},
		{"public url at the root", map[string]any{"promobot": map[string]any{"publicUrl": "https://promobot.example.com/"}}, ""},
		{"scaled, public url with /webhook", map[string]any{"mode": "scaled", "promobot": map[string]any{"publicUrl": "https://promobot.example.com/webhook"}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			vals := mergeValues(mergeValues(deepCopy(base).(map[string]any),
				map[string]any{"promobot": map[string]any{"githubOauthClientId": testOAuthClient}}), c.set)
			_, err := render(t, ch, vals)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("rendered; want an error containing %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Errorf("error %q does not contain %q", err, c.want)
			}
		})
	}
}
