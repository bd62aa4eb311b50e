package helm_test

import (
	"testing"
)

// TestStreamReplicas: the webhook and worker processes agree on the
// JetStream replicas, which follow the NATS they use: the chart's 3-node
// cluster gets 3, an external NATS 1 unless nats.streamReplicas says more.
func TestStreamReplicas(t *testing.T) {
	ch := loadChart(t)
	cases := []struct {
		vs   valueSet
		want string
	}{
		{valueSet{name: "scaled-nats", files: []string{"testdata/scaled-nats.yaml"}, mode: "scaled"}, "3"},
		{valueSet{name: "scaled-external", files: []string{"testdata/scaled-external.yaml"}, mode: "scaled"}, "1"},
		{valueSet{name: "scaled-external-3", files: []string{"testdata/scaled-external.yaml"}, mode: "scaled",
			set: map[string]any{"nats": map[string]any{"streamReplicas": 3}}}, "3"},
		{valueSet{name: "scaled-nats-5", files: []string{"testdata/scaled-nats.yaml"}, mode: "scaled",
			set: map[string]any{"nats": map[string]any{"cluster": map[string]any{"replicas": 5}}}}, "5"},
	}
	for _, tc := range cases {
		t.Run(tc.vs.name, func(t *testing.T) {
			r := mustRender(t, ch, tc.vs)
			rel := newRelease(tc.vs, r, decodeAll(t, r))
			seen := 0
			for _, w := range rel.workloads {
				comp := component(w.obj)
				if comp != "webhook" && comp != "worker" {
					continue
				}
				seen++
				if got := flagValues(w.template.Spec.Containers[0].Args)["stream-replicas"]; got != tc.want {
					t.Errorf("%s: --stream-replicas=%q, want %s", comp, got, tc.want)
				}
			}
			if seen != 2 {
				t.Fatalf("webhook and worker workloads: %d", seen)
			}
		})
	}
	if _, err := render(t, ch, valueSet{files: []string{"testdata/scaled-external.yaml"}, set: map[string]any{"nats": map[string]any{"streamReplicas": 6}}}.values(t)); err == nil {
		t.Error("streamReplicas 6 rendered; JetStream allows at most 5")
	}
}
