package rules

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func withDefaults(defaults string) []byte {
	return []byte(strings.Replace(base, "version: 1\n", "version: 1\ndefaults:\n"+defaults, 1))
}

func TestGrouping(t *testing.T) {
	for _, c := range []struct {
		defaults string
		group    Grouping
		grouped  map[int]bool // services into one environment → one PR?
	}{
		{"", GroupNever, map[int]bool{1: false, 500: false}},
		{"  group: false\n", GroupNever, map[int]bool{1: false, 500: false}},
		{"  group: true\n", GroupAlways, map[int]bool{1: true, 2: true}},
		{"  group: auto\n", GroupAuto, map[int]bool{1: false, 10: false, 11: true, 200: true}},
		{"  group: auto\n  groupAbove: 3\n", GroupAuto, map[int]bool{3: false, 4: true}},
		{"  group: auto\n  groupAbove: 1\n", GroupAuto, map[int]bool{1: false, 2: true}},
	} {
		rs, err := Parse("rules.yaml", withDefaults(c.defaults))
		if err != nil {
			t.Errorf("%q: %v", c.defaults, err)
			continue
		}
		if rs.Defaults.Group != c.group {
			t.Errorf("%q: group %v, want %v", c.defaults, rs.Defaults.Group, c.group)
		}
		for n, want := range c.grouped {
			if got := rs.Grouped(n); got != want {
				t.Errorf("%q: Grouped(%d) = %v, want %v", c.defaults, n, got, want)
			}
		}
	}
}

func TestGroupingRejections(t *testing.T) {
	for _, c := range []struct {
		defaults, field string
		line            int
		msg             string
	}{
		{"  group: sometimes\n", "defaults.group", 3, "expected true, false or auto, got a string"},
		{"  group: 10\n", "defaults.group", 3, "expected true, false or auto, got a number"},
		{"  group: true\n  groupAbove: 5\n", "defaults.groupAbove", 4, "groupAbove applies only with group: auto (group is true)"},
		{"  groupAbove: 5\n", "defaults.groupAbove", 3, "groupAbove applies only with group: auto (group is false)"},
		{"  group: auto\n  groupAbove: 0\n", "defaults.groupAbove", 4, "groupAbove must be at least 1"},
		{"  group: auto\n  groupAbove: many\n", "defaults.groupAbove", 4, "expected an integer"},
	} {
		_, err := Parse("rules.yaml", withDefaults(c.defaults))
		var errs Errors
		if !errors.As(err, &errs) || len(errs) != 1 {
			t.Errorf("%q: %v, want exactly one error", c.defaults, err)
			continue
		}
		e := errs[0]
		if e.Field != c.field || e.Line != c.line || !strings.Contains(e.Msg, c.msg) {
			t.Errorf("%q: %s line %d: %s; want %s line %d: %s", c.defaults, e.Field, e.Line, e.Msg, c.field, c.line, c.msg)
		}
	}
}

func TestGroupingJSON(t *testing.T) {
	for g, want := range map[Grouping]string{GroupNever: "false", GroupAlways: "true", GroupAuto: `"auto"`} {
		b, err := json.Marshal(g)
		if err != nil || string(b) != want {
			t.Errorf("%v: %s %v, want %s", g, b, err, want)
		}
		var back Grouping
		if err := json.Unmarshal(b, &back); err != nil || back != g {
			t.Errorf("%s: read back %v %v", b, back, err)
		}
	}
	var g Grouping
	if err := json.Unmarshal([]byte(`"always"`), &g); err == nil {
		t.Error(`"always" accepted`)
	}
}
