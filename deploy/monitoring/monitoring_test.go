package monitoring

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/promobot/promobot/internal/budget"
	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/worker"
)

const (
	dashboardFile = "../grafana/promobot.json"
	alertsFile    = "../prometheus/alerts.yaml"
	readmeFile    = "../../README.md"
)

var promql = parser.NewParser(parser.Options{})

// exported runs promobot end to end once (the GitHub test server, a build
// that becomes a promotion PR, an unsigned delivery) and returns every
// series name its /metrics shows, histograms as _bucket, _sum and _count.
var exported = sync.OnceValues(func() (map[string]bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "promobot-monitoring-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	h, err := demo.Start(ctx, demo.Options{
		Dir: dir, Log: zerolog.Nop(),
		GitHubBudget:      budget.Config{Windows: budget.GitHubWindows(budget.DefaultPerMinute, budget.DefaultPerHour)},
		RedeliverInterval: time.Hour,
	})
	if err != nil {
		return nil, err
	}
	defer h.Close()
	sha, err := h.SourceCommit("feat: dashboards")
	if err != nil {
		return nil, err
	}
	payload, err := h.WorkflowRun(demo.Build{SHA: sha, Message: "feat: dashboards", RunNumber: 1})
	if err != nil {
		return nil, err
	}
	if _, err := h.Send(ctx, "workflow_run", demo.DeliveryID(), payload); err != nil {
		return nil, err
	}
	r, err := h.Await(ctx, 1)
	if err != nil {
		return nil, err
	}
	if r.Outcome != worker.Opened {
		return nil, &outcomeError{r}
	}
	resp, err := http.Post(h.WebhookURL(), "application/json", strings.NewReader("{}")) // unsigned: counted as unauthorized
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	resp, err = http.Get("http://" + h.App.Addr() + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	tp := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := tp.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for name, f := range fams {
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
		default:
			names[name] = true
		}
	}
	return names, nil
})

type outcomeError struct{ r worker.Result }

func (e *outcomeError) Error() string {
	return "the end-to-end promotion came to " + string(e.r.Outcome) + ": " + e.r.Reason
}

func exportedNames(t *testing.T) map[string]bool {
	t.Helper()
	names, err := exported()
	if err != nil {
		t.Fatalf("end-to-end run: %v", err)
	}
	return names
}

// grafanaVars are the dashboard's variables, replaced before parsing.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$job", ".*")

// metricNames parses expr as PromQL and returns the metric names it selects.
func metricNames(t *testing.T, where, expr string) []string {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return nil
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
			if name == "" {
				t.Errorf("%s: %q selects series without a metric name", where, expr)
			}
			names = append(names, name)
		}
		return nil
	})
	if len(names) == 0 {
		t.Errorf("%s: %q selects no metric", where, expr)
	}
	return names
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// TestDashboard: every panel query parses and names only exported metrics,
// and the dashboard shows what operating promobot needs.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title      string  `json:"title"`
		UID        string  `json:"uid"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name, Type string
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Error("dashboard without title or uid")
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["job"] == "" {
		t.Errorf("variables = %v, want datasource and job", vars)
	}
	names := exportedNames(t)
	ids := map[int]bool{}
	used := map[string]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d twice", p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if p.Title == "" || p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %d %q: a title and the ${datasource} Prometheus datasource", p.ID, p.Title)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				if !strings.Contains(tg.Expr, `job=~"$job"`) {
					t.Errorf("panel %q: %q does not select the $job targets", p.Title, tg.Expr)
				}
				for _, n := range metricNames(t, "panel "+p.Title, grafanaVars.Replace(tg.Expr)) {
					used[n] = true
					if !names[n] {
						t.Errorf("panel %q: %s is not a metric promobot exports", p.Title, n)
					}
				}
			}
		}
	}
	walk(d.Panels)
	for _, want := range []string{
		"promobot_webhook_deliveries_total", "promobot_worker_intents_total", "promobot_queue_pending",
		"promobot_queue_oldest_intent_age_seconds", "promobot_queue_dead_letters", "promobot_github_api_calls_total",
		"promobot_github_write_budget_remaining", "promobot_promotion_latency_seconds_bucket", "promobot_ready",
	} {
		if !used[want] {
			t.Errorf("no panel shows %s", want)
		}
	}
}

// alertRule is one rule as written, strictly decoded: for, labels and
// annotations are checked for presence, not only for values.
type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         *string           `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// TestAlerts: the file is valid Prometheus rule groups, every alert names
// only exported metrics, and each carries a severity, a summary and a runbook.
func TestAlerts(t *testing.T) {
	b, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(b, false, model.UTF8Validation, promql, slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("alerts.yaml: %v", err)
	}
	if groups == nil || len(groups.Groups) == 0 {
		t.Fatal("alerts.yaml: no rule groups")
	}
	var local struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&local); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	names := exportedNames(t)
	seen := map[string]bool{}
	for _, g := range local.Groups {
		for _, r := range g.Rules {
			where := "alert " + r.Alert
			if r.Alert == "" {
				t.Errorf("group %s: a rule without an alert name (recording rules belong elsewhere)", g.Name)
			}
			seen[r.Alert] = true
			if r.For == nil {
				t.Errorf("%s: no for (say for: 0m when it fires at once)", where)
			} else if _, err := model.ParseDuration(*r.For); err != nil {
				t.Errorf("%s: for %q: %v", where, *r.For, err)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", where, s)
			}
			for _, k := range []string{"summary", "description", "runbook"} {
				if len(strings.TrimSpace(r.Annotations[k])) < 20 {
					t.Errorf("%s: annotation %s missing or too short", where, k)
				}
			}
			for _, n := range metricNames(t, where, r.Expr) {
				if !names[n] {
					t.Errorf("%s: %s is not a metric promobot exports", where, n)
				}
			}
		}
	}
	for _, want := range []string{"PromobotDeadLetters", "PromobotOldestIntentTooOld", "PromobotWriteBudgetExhausted", "PromobotReconcilerFailing", "PromobotNotReady"} {
		if !seen[want] {
			t.Errorf("no alert %s", want)
		}
	}
}

// TestMetricsDocumented: the README names every promobot_* series the
// end-to-end run exports.
func TestMetricsDocumented(t *testing.T) {
	readme, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for n := range exportedNames(t) {
		base := regexp.MustCompile(`_(bucket|sum|count)$`).ReplaceAllString(n, "")
		documented := false
		for _, form := range []string{"`" + n + "`", "`" + base + "`", "`" + base + "{"} {
			documented = documented || bytes.Contains(readme, []byte(form))
		}
		if strings.HasPrefix(n, "promobot_") && !documented {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("README.md does not document: %s", strings.Join(missing, ", "))
	}
}
