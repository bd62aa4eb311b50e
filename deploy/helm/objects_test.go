package helm_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// object is one rendered Kubernetes object, decoded into its API type.
type object struct {
	source     string // the template that rendered it
	apiVersion string
	kind       string
	name       string
	namespace  string
	labels     map[string]string
	typed      any
}

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor CRD
// (monitoring.coreos.com/v1) the chart uses, field names as in the CRD. It is
// decoded strictly like the built-in types: a field the chart renders that is
// not listed here fails the test.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel          string               `json:"jobLabel,omitempty"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Scheme        string `json:"scheme"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// The CRD's pattern for durations (monitoring.coreos.com/v1 Duration).
var promDuration = regexp.MustCompile(`^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$`)

func newTyped(apiVersion, kind string) (any, bool) {
	switch apiVersion + " " + kind {
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}, true
	case "v1 Secret":
		return &corev1.Secret{}, true
	case "v1 Service":
		return &corev1.Service{}, true
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}, true
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, true
	case "apps/v1 StatefulSet":
		return &appsv1.StatefulSet{}, true
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, true
	case "networking.k8s.io/v1 Ingress":
		return &networkingv1.Ingress{}, true
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, true
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &serviceMonitor{}, true
	}
	return nil, false
}

// decodeAll decodes every rendered document strictly: YAML with duplicate
// keys, unknown fields, fields in the wrong case and values of the wrong type
// are errors, as they are for the API server's strict field validation.
func decodeAll(t *testing.T, r *rendered) []object {
	t.Helper()
	var objs []object
	for _, m := range r.manifests {
		j, err := yaml.YAMLToJSONStrict([]byte(m.Content))
		if err != nil {
			t.Errorf("%s: %v", m.Name, err)
			continue
		}
		var head struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   metav1.ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal(j, &head); err != nil {
			t.Errorf("%s: %v", m.Name, err)
			continue
		}
		typed, ok := newTyped(head.APIVersion, head.Kind)
		if !ok {
			t.Errorf("%s: %s %s is not a kind this test knows; add its API type to newTyped", m.Name, head.APIVersion, head.Kind)
			continue
		}
		strict, err := kjson.UnmarshalStrict(j, typed, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
		if err != nil {
			t.Errorf("%s: %s %s: %v", m.Name, head.Kind, head.Metadata.Name, err)
			continue
		}
		for _, e := range strict {
			t.Errorf("%s: %s %s: %v", m.Name, head.Kind, head.Metadata.Name, e)
		}
		objs = append(objs, object{
			source: m.Name, apiVersion: head.APIVersion, kind: head.Kind,
			name: head.Metadata.Name, namespace: head.Metadata.Namespace, labels: head.Metadata.Labels, typed: typed,
		})
	}
	if len(objs) == 0 {
		t.Fatal("the chart rendered no objects")
	}
	return objs
}

// workload is a Deployment or StatefulSet.
type workload struct {
	obj      object
	selector *metav1.LabelSelector
	template corev1.PodTemplateSpec
	claims   []corev1.PersistentVolumeClaim
	replicas *int32
}

func (w workload) podLabels() labels.Set { return labels.Set(w.template.Labels) }

type release struct {
	vs        valueSet
	r         *rendered
	objs      []object
	workloads []workload
	byKind    map[string]map[string]object
}

func newRelease(vs valueSet, r *rendered, objs []object) *release {
	rel := &release{vs: vs, r: r, objs: objs, byKind: map[string]map[string]object{}}
	for _, o := range objs {
		if rel.byKind[o.kind] == nil {
			rel.byKind[o.kind] = map[string]object{}
		}
		rel.byKind[o.kind][o.name] = o
		switch x := o.typed.(type) {
		case *appsv1.Deployment:
			rel.workloads = append(rel.workloads, workload{obj: o, selector: x.Spec.Selector, template: x.Spec.Template, replicas: x.Spec.Replicas})
		case *appsv1.StatefulSet:
			rel.workloads = append(rel.workloads, workload{obj: o, selector: x.Spec.Selector, template: x.Spec.Template, claims: x.Spec.VolumeClaimTemplates, replicas: x.Spec.Replicas})
		}
	}
	return rel
}

func (rel *release) get(kind, name string) (object, bool) {
	o, ok := rel.byKind[kind][name]
	return o, ok
}

// selecting returns the workloads whose pods sel selects.
func (rel *release) selecting(t *testing.T, what string, sel *metav1.LabelSelector) []workload {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("%s: selector: %v", what, err)
		return nil
	}
	if s.Empty() {
		t.Errorf("%s: empty selector selects every pod", what)
	}
	var out []workload
	for _, w := range rel.workloads {
		if s.Matches(w.podLabels()) {
			out = append(out, w)
		}
	}
	return out
}

func component(o object) string { return o.labels["app.kubernetes.io/component"] }

// checkRelease runs every check on one rendered installation.
func checkRelease(t *testing.T, vs valueSet, r *rendered, objs []object) {
	rel := newRelease(vs, r, objs)
	checkMetadata(t, rel)
	checkWorkloads(t, rel)
	checkPromobot(t, rel)
	checkServices(t, rel)
	checkDisruptionAndScaling(t, rel)
	checkIngress(t, rel)
	checkNetworkPolicies(t, rel)
	checkServiceMonitor(t, rel)
	checkConfigAndSecret(t, rel)
	checkNATS(t, rel)
}

func checkMetadata(t *testing.T, rel *release) {
	for _, o := range rel.objs {
		id := o.kind + "/" + o.name
		if o.namespace != namespace {
			t.Errorf("%s: namespace %q, want the release namespace %q", id, o.namespace, namespace)
		}
		for _, msg := range validation.IsDNS1123Subdomain(o.name) {
			t.Errorf("%s: name: %s", id, msg)
		}
		if o.kind == "Service" {
			for _, msg := range validation.IsDNS1035Label(o.name) {
				t.Errorf("%s: name: %s", id, msg)
			}
		}
		for _, k := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "helm.sh/chart"} {
			if o.labels[k] == "" {
				t.Errorf("%s: no %s label", id, k)
			}
		}
		for k, v := range o.labels {
			for _, msg := range validation.IsQualifiedName(k) {
				t.Errorf("%s: label key %q: %s", id, k, msg)
			}
			for _, msg := range validation.IsValidLabelValue(v) {
				t.Errorf("%s: label %s=%q: %s", id, k, v, msg)
			}
		}
	}
}

func checkWorkloads(t *testing.T, rel *release) {
	for _, w := range rel.workloads {
		id := w.obj.kind + "/" + w.obj.name
		sel, err := metav1.LabelSelectorAsSelector(w.selector)
		if err != nil || !sel.Matches(w.podLabels()) {
			t.Errorf("%s: selector %v does not select its own pods %v (%v)", id, w.selector, w.template.Labels, err)
		}
		// Selectors are immutable: they must not carry labels that change
		// with a chart or app upgrade.
		for k := range w.selector.MatchLabels {
			if k == "helm.sh/chart" || k == "app.kubernetes.io/version" {
				t.Errorf("%s: selector label %s changes on upgrade", id, k)
			}
		}
		if w.obj.kind == "StatefulSet" {
			ss := w.obj.typed.(*appsv1.StatefulSet)
			svc, ok := rel.get("Service", ss.Spec.ServiceName)
			if !ok {
				t.Errorf("%s: serviceName %q is not rendered", id, ss.Spec.ServiceName)
			} else if len(rel.selecting(t, "Service/"+svc.name, &metav1.LabelSelector{MatchLabels: svc.typed.(*corev1.Service).Spec.Selector})) == 0 {
				t.Errorf("%s: its Service %s selects no pods", id, svc.name)
			}
			for i := 0; i < int(*ss.Spec.Replicas); i++ {
				for _, msg := range validation.IsDNS1123Label(fmt.Sprintf("%s-%d", ss.Name, i)) {
					t.Errorf("%s: pod name: %s", id, msg)
				}
			}
		}
		checkPodSecurity(t, id, w)
		checkVolumes(t, id, w)
	}
}

func checkPodSecurity(t *testing.T, id string, w workload) {
	spec := w.template.Spec
	psc := spec.SecurityContext
	if psc == nil {
		t.Errorf("%s: no pod securityContext", id)
		psc = &corev1.PodSecurityContext{}
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: the service account token is mounted; nothing here calls the Kubernetes API", id)
	}
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		t.Errorf("%s: enableServiceLinks is on: Service link variables would land next to PROMOBOT_*", id)
	}
	if len(spec.InitContainers) > 0 || len(spec.EphemeralContainers) > 0 {
		t.Errorf("%s: init or ephemeral containers are not checked by this test", id)
	}
	for _, c := range spec.Containers {
		cid := id + " container " + c.Name
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", cid)
			continue
		}
		nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
		uid := sc.RunAsUser
		if uid == nil {
			uid = psc.RunAsUser
		}
		if !nonRoot || uid == nil || *uid == 0 {
			t.Errorf("%s: not forced to a non-root user (runAsNonRoot and a non-zero runAsUser)", cid)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: root filesystem is writable", cid)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: privilege escalation allowed", cid)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s: privileged", cid)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s: capabilities: want drop [ALL] and no additions, got %+v", cid, sc.Capabilities)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: seccomp profile is not RuntimeDefault", cid)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[res]
			lim, hasLim := c.Resources.Limits[res]
			if !hasReq || !hasLim {
				t.Errorf("%s: %s request and limit must both be set", cid, res)
			} else if req.Cmp(lim) > 0 {
				t.Errorf("%s: %s request %s above its limit %s", cid, res, req.String(), lim.String())
			}
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("%s: liveness and readiness probes are required", cid)
		}
		if c.Image == "" || strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":") && !strings.Contains(c.Image, "@") {
			t.Errorf("%s: image %q is not pinned", cid, c.Image)
		}
	}
}

// checkVolumes: every mount has a volume, writable paths are volumes, and
// configuration is mounted as a directory so ConfigMap updates reach the pod.
func checkVolumes(t *testing.T, id string, w workload) {
	vols := map[string]corev1.Volume{}
	for _, v := range w.template.Spec.Volumes {
		vols[v.Name] = v
	}
	for _, c := range w.claims {
		if _, dup := vols[c.Name]; dup {
			t.Errorf("%s: volume %q is both a volume and a claim template", id, c.Name)
		}
		vols[c.Name] = corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name}}}
		if _, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
			t.Errorf("%s: claim template %s has no storage request", id, c.Name)
		}
	}
	for _, c := range w.template.Spec.Containers {
		for _, m := range c.VolumeMounts {
			v, ok := vols[m.Name]
			if !ok {
				t.Errorf("%s: %s mounts %q, which is not a volume", id, c.Name, m.Name)
				continue
			}
			if (v.ConfigMap != nil || v.Secret != nil) && (m.SubPath != "" || m.SubPathExpr != "") {
				t.Errorf("%s: %s mounts %s with subPath: updates would never reach the pod", id, c.Name, m.Name)
			}
			if (v.ConfigMap != nil || v.Secret != nil) && !m.ReadOnly {
				t.Errorf("%s: %s mounts %s read-write", id, c.Name, m.Name)
			}
		}
	}
}

// mountFor returns the volume mount that holds file p in container c.
func mountFor(c corev1.Container, p string) (corev1.VolumeMount, string, bool) {
	var best corev1.VolumeMount
	found := false
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/") && len(m.MountPath) > len(best.MountPath) {
			best, found = m, true
		}
	}
	if !found {
		return best, "", false
	}
	return best, strings.TrimPrefix(p, strings.TrimSuffix(best.MountPath, "/")+"/"), true
}

func volume(w workload, name string) (corev1.Volume, bool) {
	for _, v := range w.template.Spec.Volumes {
		if v.Name == name {
			return v, true
		}
	}
	for _, c := range w.claims {
		if c.Name == name {
			return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}}, true
		}
	}
	return corev1.Volume{}, false
}

func checkServices(t *testing.T, rel *release) {
	for _, o := range rel.objs {
		svc, ok := o.typed.(*corev1.Service)
		if !ok {
			continue
		}
		ws := rel.selecting(t, "Service/"+o.name, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
		if len(ws) != 1 {
			t.Errorf("Service/%s selects %d workloads, want 1", o.name, len(ws))
			continue
		}
		for _, p := range svc.Spec.Ports {
			if p.TargetPort.Type != intstr.String {
				t.Errorf("Service/%s port %s: target port by number; use the container port's name", o.name, p.Name)
				continue
			}
			if _, ok := containerPort(ws[0], p.TargetPort.StrVal); !ok {
				t.Errorf("Service/%s port %s: no container port named %q in %s", o.name, p.Name, p.TargetPort.StrVal, ws[0].obj.name)
			}
		}
	}
}

func containerPort(w workload, name string) (int32, bool) {
	for _, c := range w.template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return p.ContainerPort, true
			}
		}
	}
	return 0, false
}

func checkDisruptionAndScaling(t *testing.T, rel *release) {
	covered := map[string]bool{}
	for _, o := range rel.objs {
		switch x := o.typed.(type) {
		case *policyv1.PodDisruptionBudget:
			ws := rel.selecting(t, "PodDisruptionBudget/"+o.name, x.Spec.Selector)
			if len(ws) != 1 {
				t.Errorf("PodDisruptionBudget/%s selects %d workloads, want 1", o.name, len(ws))
				continue
			}
			covered[ws[0].obj.name] = true
			if (x.Spec.MaxUnavailable == nil) == (x.Spec.MinAvailable == nil) {
				t.Errorf("PodDisruptionBudget/%s: set exactly one of maxUnavailable and minAvailable", o.name)
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			ref := x.Spec.ScaleTargetRef
			d, ok := rel.get(ref.Kind, ref.Name)
			if !ok || ref.APIVersion != d.apiVersion {
				t.Errorf("HorizontalPodAutoscaler/%s scales %s %s/%s, which is not rendered", o.name, ref.APIVersion, ref.Kind, ref.Name)
				continue
			}
			if dep, ok := d.typed.(*appsv1.Deployment); ok && dep.Spec.Replicas != nil {
				t.Errorf("Deployment/%s sets replicas although HorizontalPodAutoscaler/%s scales it: every upgrade would reset the scale", d.name, o.name)
			}
			if x.Spec.MinReplicas == nil || *x.Spec.MinReplicas > x.Spec.MaxReplicas {
				t.Errorf("HorizontalPodAutoscaler/%s: replica bounds %v..%d", o.name, x.Spec.MinReplicas, x.Spec.MaxReplicas)
			}
		}
	}
	// Every workload with more than one pod has a budget (mode=single's one
	// pod deliberately has none).
	for _, w := range rel.workloads {
		if w.replicas == nil || *w.replicas > 1 {
			if !covered[w.obj.name] {
				t.Errorf("%s/%s runs several pods but has no PodDisruptionBudget", w.obj.kind, w.obj.name)
			}
		}
	}
	// Webhook pods spread over nodes and zones.
	for _, w := range rel.workloads {
		if component(w.obj) != "webhook" {
			continue
		}
		keys := map[string]bool{}
		for _, c := range w.template.Spec.TopologySpreadConstraints {
			sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
			if err != nil || !sel.Matches(w.podLabels()) {
				t.Errorf("%s: topology spread constraint on %s does not select its own pods", w.obj.name, c.TopologyKey)
			}
			keys[c.TopologyKey] = true
		}
		if !keys["kubernetes.io/hostname"] || !keys["topology.kubernetes.io/zone"] {
			t.Errorf("%s: webhook pods are not spread over nodes and zones: %v", w.obj.name, keys)
		}
	}
}

func checkIngress(t *testing.T, rel *release) {
	for _, o := range rel.objs {
		ing, ok := o.typed.(*networkingv1.Ingress)
		if !ok {
			continue
		}
		// The status page is routed when its sign-in is configured
		// (TestStatusPageIsRouted follows each of its requests).
		oauth, _ := nested(rel.r.values, "promobot", "githubOauthClientId").(string)
		page := map[string]bool{"/": true, "/repos/": true, "/api/v1/": true, "/auth/": true, "/ui/": true}
		for _, rule := range ing.Spec.Rules {
			for _, p := range rule.HTTP.Paths {
				isPage := oauth != "" && page[p.Path]
				if p.Path != "/webhook" && !isPage {
					t.Errorf("Ingress/%s routes %q; only /webhook should be reachable from outside", o.name, p.Path)
				}
				b := p.Backend.Service
				svcObj, ok := rel.get("Service", b.Name)
				if !ok {
					t.Errorf("Ingress/%s: backend Service %s is not rendered", o.name, b.Name)
					continue
				}
				svc := svcObj.typed.(*corev1.Service)
				if !slices.ContainsFunc(svc.Spec.Ports, func(sp corev1.ServicePort) bool { return sp.Name == b.Port.Name && b.Port.Name != "" }) {
					t.Errorf("Ingress/%s: Service %s has no port named %q", o.name, b.Name, b.Port.Name)
				}
				if c := component(svcObj); c != "server" && c != "webhook" && !(isPage && c == "worker") {
					t.Errorf("Ingress/%s sends %s to %s pods", o.name, p.Path, c)
				}
			}
		}
	}
}

func checkNetworkPolicies(t *testing.T, rel *release) {
	policies := rel.byKind["NetworkPolicy"]
	enabled := nested(rel.r.values, "networkPolicy", "enabled") == true
	if !enabled {
		if len(policies) > 0 {
			t.Errorf("NetworkPolicies rendered although networkPolicy.enabled is off")
		}
		return
	}
	covered := map[string]bool{}
	for name, o := range policies {
		np := o.typed.(*networkingv1.NetworkPolicy)
		ws := rel.selecting(t, "NetworkPolicy/"+name, &np.Spec.PodSelector)
		if len(ws) != 1 {
			t.Errorf("NetworkPolicy/%s selects %d workloads, want 1", name, len(ws))
			continue
		}
		covered[ws[0].obj.name] = true
		if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			t.Errorf("NetworkPolicy/%s does not restrict both directions: %v", name, np.Spec.PolicyTypes)
		}
		comp := component(ws[0].obj)
		port, _ := containerPort(ws[0], "http")
		for _, rule := range np.Spec.Ingress {
			if len(rule.From) == 0 {
				t.Errorf("NetworkPolicy/%s admits %v from anywhere", name, rule.Ports)
			}
			for _, p := range rule.Ports {
				if p.Port == nil {
					t.Errorf("NetworkPolicy/%s admits every port", name)
				} else if comp != "nats" && p.Port.IntValue() != int(port) {
					t.Errorf("NetworkPolicy/%s admits port %s; promobot pods take traffic on %d only", name, p.Port.String(), port)
				}
			}
		}
		egressPorts := map[int]bool{}
		for _, rule := range np.Spec.Egress {
			for _, p := range rule.Ports {
				if p.Port == nil {
					t.Errorf("NetworkPolicy/%s lets out every port", name)
					continue
				}
				egressPorts[p.Port.IntValue()] = true
			}
		}
		want := map[string][]int{"server": {53, 443}, "webhook": {53, 4222}, "worker": {53, 4222, 443}, "nats": {53, 6222}}[comp]
		for _, p := range want {
			if !egressPorts[p] {
				t.Errorf("NetworkPolicy/%s (%s) does not let out port %d", name, comp, p)
			}
		}
		if comp == "webhook" && egressPorts[443] {
			t.Errorf("NetworkPolicy/%s lets webhook pods reach GitHub; they never call it", name)
		}
		// The webhook port is open to the ingress controller only (and to
		// metricsFrom).
		if comp == "server" || comp == "webhook" {
			from := nested(rel.r.values, "networkPolicy", "ingressFrom")
			if from == nil {
				from = defaultValue(t, "networkPolicy", "ingressFrom")
			}
			if len(np.Spec.Ingress) == 0 || !sameJSON(t, np.Spec.Ingress[0].From, from) {
				t.Errorf("NetworkPolicy/%s: the webhook port is not open to exactly networkPolicy.ingressFrom", name)
			}
		}
		// Workers take traffic only for metricsFrom and, when they serve the
		// status page, from the ingress controller.
		oauth, _ := nested(rel.r.values, "promobot", "githubOauthClientId").(string)
		if comp == "worker" && nested(rel.r.values, "networkPolicy", "metricsFrom") == nil && oauth == "" && len(np.Spec.Ingress) > 0 {
			t.Errorf("NetworkPolicy/%s admits traffic to workers without metricsFrom", name)
		}
	}
	for _, w := range rel.workloads {
		if !covered[w.obj.name] {
			t.Errorf("%s/%s has no NetworkPolicy although networkPolicy.enabled", w.obj.kind, w.obj.name)
		}
	}
}

func checkServiceMonitor(t *testing.T, rel *release) {
	enabled := nested(rel.r.values, "serviceMonitor", "enabled") == true
	sms := rel.byKind["ServiceMonitor"]
	if enabled != (len(sms) == 1) {
		t.Errorf("serviceMonitor.enabled=%v but %d ServiceMonitors rendered", enabled, len(sms))
	}
	for name, o := range sms {
		sm := o.typed.(*serviceMonitor)
		if sm.APIVersion != "monitoring.coreos.com/v1" {
			t.Errorf("ServiceMonitor/%s: apiVersion %s", name, sm.APIVersion)
		}
		if !slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{namespace}) {
			t.Errorf("ServiceMonitor/%s: namespaceSelector %v", name, sm.Spec.NamespaceSelector.MatchNames)
		}
		sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
		if err != nil {
			t.Errorf("ServiceMonitor/%s: %v", name, err)
			continue
		}
		var matched []string
		for svcName, so := range rel.byKind["Service"] {
			if !sel.Matches(labels.Set(so.labels)) {
				continue
			}
			matched = append(matched, svcName)
			if component(so) == "nats" {
				t.Errorf("ServiceMonitor/%s scrapes NATS Service %s, which has no Prometheus endpoint", name, svcName)
			}
			for _, ep := range sm.Spec.Endpoints {
				if !slices.ContainsFunc(so.typed.(*corev1.Service).Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
					t.Errorf("ServiceMonitor/%s: Service %s has no port %q", name, svcName, ep.Port)
				}
			}
		}
		slices.Sort(matched)
		want := map[string][]string{"single": {"promobot"}, "scaled": {"promobot", "promobot-worker"}}[rel.vs.mode]
		if !slices.Equal(matched, want) {
			t.Errorf("ServiceMonitor/%s scrapes Services %v, want %v", name, matched, want)
		}
		if len(sm.Spec.Endpoints) == 0 {
			t.Errorf("ServiceMonitor/%s has no endpoints", name)
		}
		for _, ep := range sm.Spec.Endpoints {
			if ep.Path != "/metrics" || (ep.Scheme != "http" && ep.Scheme != "") {
				t.Errorf("ServiceMonitor/%s: endpoint %s %s", name, ep.Scheme, ep.Path)
			}
			for _, d := range []string{ep.Interval, ep.ScrapeTimeout} {
				if d != "" && !promDuration.MatchString(d) {
					t.Errorf("ServiceMonitor/%s: %q is not a Prometheus duration", name, d)
				}
			}
		}
	}
}

// checkConfigAndSecret: the rules the chart ships pass `promobot validate`,
// and a Secret the chart creates holds what the pods read from it.
func checkConfigAndSecret(t *testing.T, rel *release) {
	for name, o := range rel.byKind["ConfigMap"] {
		if component(o) != "config" {
			continue
		}
		cm := o.typed.(*corev1.ConfigMap)
		key, _ := nested(rel.r.values, "config", "rulesKey").(string)
		if key == "" {
			key = "promotion-rules.yaml"
		}
		rules, ok := cm.Data[key]
		if !ok {
			t.Errorf("ConfigMap/%s has no %s", name, key)
			continue
		}
		f := filepath.Join(t.TempDir(), key)
		if err := os.WriteFile(f, []byte(rules), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := runPromobot(t, nil, "validate", f); err != nil {
			t.Errorf("ConfigMap/%s: promobot validate %s: %v\n%s", name, key, err, out)
		}
	}
	existing, _ := nested(rel.r.values, "credentials", "existingSecret").(string)
	secrets := rel.byKind["Secret"]
	if existing != "" {
		if len(secrets) != 0 {
			t.Errorf("credentials.existingSecret is set but the chart renders Secrets %v", secrets)
		}
		return
	}
	sObj, ok := secrets[releaseName]
	if !ok {
		t.Errorf("the chart does not create the credentials Secret")
		return
	}
	sec := sObj.typed.(*corev1.Secret)
	want := map[string]string{"webhookSecret": "webhook-secret"}
	if auth, _ := nested(rel.r.values, "credentials", "auth").(string); auth == "token" {
		want["token"] = "token"
	} else {
		want["appId"], want["privateKey"] = "app-id", "private-key.pem"
	}
	if id, _ := nested(rel.r.values, "promobot", "githubOauthClientId").(string); id != "" {
		want["oauthClientSecret"] = "oauth-client-secret"
	}
	if len(sec.Data) != len(want) {
		t.Errorf("Secret/%s holds %d keys, want %d (%v)", sObj.name, len(sec.Data), len(want), want)
	}
	for value, key := range want {
		v := fmt.Sprint(nested(rel.r.values, "credentials", value))
		if got, ok := sec.Data[key]; !ok || string(got) != v {
			t.Errorf("Secret/%s: %s = %q (base64), want credentials.%s", sObj.name, key, base64.StdEncoding.EncodeToString(got), value)
		}
	}
}

// checkNATS parses the rendered nats.conf with the NATS server promobot is
// built with, and checks it against the StatefulSet and Services.
func checkNATS(t *testing.T, rel *release) {
	cmObj, ok := rel.get("ConfigMap", "promobot-nats")
	ssObj, hasSS := rel.get("StatefulSet", "promobot-nats")
	url, _ := nested(rel.r.values, "nats", "url").(string)
	urlSecret, _ := nested(rel.r.values, "nats", "urlSecret", "name").(string)
	inChart := rel.vs.mode == "scaled" && url == "" && urlSecret == ""
	if ok != inChart || hasSS != inChart {
		t.Fatalf("in-chart NATS expected=%v, ConfigMap rendered=%v, StatefulSet rendered=%v", inChart, ok, hasSS)
	}
	if !inChart {
		return
	}
	ss := ssObj.typed.(*appsv1.StatefulSet)
	replicas := int(*ss.Spec.Replicas)
	if replicas < 3 {
		t.Errorf("StatefulSet/%s: %d servers; JetStream clustering needs 3", ss.Name, replicas)
	}
	if ss.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("StatefulSet/%s: pods start one by one; a JetStream cluster needs its quorum together", ss.Name)
	}
	headlessObj, ok := rel.get("Service", ss.Spec.ServiceName)
	if !ok {
		t.Fatalf("StatefulSet/%s: governing Service %s not rendered", ss.Name, ss.Spec.ServiceName)
	}
	headless := headlessObj.typed.(*corev1.Service)
	if headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("Service/%s: want a headless Service publishing not-ready pods (routes form before readiness)", headless.Name)
	}
	conf := cmObj.typed.(*corev1.ConfigMap).Data["nats.conf"]
	f := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POD_NAME", ss.Name+"-1")
	opts, err := server.ProcessConfigFile(f)
	if err != nil {
		t.Fatalf("nats.conf does not parse: %v\n%s", err, conf)
	}
	if opts.ServerName != ss.Name+"-1" {
		t.Errorf("nats.conf: server_name %q, want the pod name", opts.ServerName)
	}
	if !opts.JetStream || opts.JetStreamMaxStore <= 0 {
		t.Errorf("nats.conf: JetStream off or without a file store limit")
	}
	if opts.Cluster.Port != 6222 || opts.Cluster.Name == "" {
		t.Errorf("nats.conf: cluster %q on port %d", opts.Cluster.Name, opts.Cluster.Port)
	}
	var routes []string
	for _, u := range opts.Routes {
		routes = append(routes, u.Host)
	}
	var want []string
	for i := 0; i < replicas; i++ {
		want = append(want, fmt.Sprintf("%s-%d.%s.%s.svc:6222", ss.Name, i, headless.Name, namespace))
	}
	if !slices.Equal(routes, want) {
		t.Errorf("nats.conf routes %v, want one per pod %v", routes, want)
	}
	c := ss.Spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Args, []string{"--config", "/etc/nats/nats.conf"}) {
		t.Errorf("NATS args %v", c.Args)
	}
	m, rest, ok := mountFor(c, opts.StoreDir+"/jetstream")
	if !ok || rest != "jetstream" {
		t.Errorf("JetStream store %s is not on a volume", opts.StoreDir)
	} else if v, _ := volume(workload{template: ss.Spec.Template, claims: ss.Spec.VolumeClaimTemplates}, m.Name); v.PersistentVolumeClaim == nil {
		t.Errorf("JetStream store %s is on %s, not a PersistentVolumeClaim", opts.StoreDir, m.Name)
	}
	if _, _, ok := mountFor(c, opts.PidFile); !ok {
		t.Errorf("pid file %s is on the read-only root filesystem", opts.PidFile)
	}
	for name, p := range map[string]int{"client": opts.Port, "cluster": opts.Cluster.Port, "monitor": opts.HTTPPort} {
		if got, ok := containerPort(workload{template: ss.Spec.Template}, name); !ok || int(got) != p {
			t.Errorf("NATS container port %s = %d, nats.conf says %d", name, got, p)
		}
	}
	// promobot connects to the client Service.
	client, ok := rel.get("Service", ss.Name)
	if !ok {
		t.Fatalf("no client Service %s", ss.Name)
	}
	wantURL := fmt.Sprintf("nats://%s.%s.svc:4222", client.name, namespace)
	for _, w := range rel.workloads {
		if comp := component(w.obj); comp == "webhook" || comp == "worker" {
			if got := flagValues(w.template.Spec.Containers[0].Args)["nats-url"]; got != wantURL {
				t.Errorf("%s: --nats-url=%s, want %s", w.obj.name, got, wantURL)
			}
		}
	}
}

// nested reads a user value (nil when unset).
func nested(m map[string]any, keys ...string) any {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

// defaultValue reads a value from the chart's values.yaml.
func defaultValue(t *testing.T, keys ...string) any {
	t.Helper()
	ch := loadChart(t)
	return nested(ch.Values, keys...)
}

func sameJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	var va, vb any
	if err := json.Unmarshal(ja, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(jb, &vb); err != nil {
		t.Fatal(err)
	}
	na, _ := json.Marshal(va)
	nb, _ := json.Marshal(vb)
	return string(na) == string(nb)
}
