package rules

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"testing"
)

// TestSchemaMatchesTypes keeps config/promotion-rules.schema.json and the Go
// types from drifting apart: every object in the schema lists exactly the
// yaml names of its struct and forbids other properties.
func TestSchemaMatchesTypes(t *testing.T) {
	data, err := os.ReadFile("../../config/promotion-rules.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	type object struct {
		Schema     string                     `json:"$schema"`
		Properties map[string]json.RawMessage `json:"properties"`
		Additional *bool                      `json:"additionalProperties"`
	}
	var root struct {
		object
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatalf("schema is not valid JSON: %v", err)
	}
	if root.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %q", root.Schema)
	}
	check := func(name string, o object, typ reflect.Type) {
		t.Helper()
		var want, got []string
		for k := range yamlFields(typ) {
			want = append(want, k)
		}
		for k := range o.Properties {
			got = append(got, k)
		}
		sort.Strings(want)
		sort.Strings(got)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: schema properties %v, Go yaml fields %v", name, got, want)
		}
		if o.Additional == nil || *o.Additional {
			t.Errorf("%s: additionalProperties must be false", name)
		}
	}
	check("root", root.object, reflect.TypeFor[Rules]())
	defs := map[string]reflect.Type{
		"defaults":         reflect.TypeFor[Defaults](),
		"environment":      reflect.TypeFor[Environment](),
		"envOverride":      reflect.TypeFor[EnvOverride](),
		"principals":       reflect.TypeFor[Principals](),
		"ticket":           reflect.TypeFor[Ticket](),
		"window":           reflect.TypeFor[Window](),
		"service":          reflect.TypeFor[Service](),
		"source":           reflect.TypeFor[Source](),
		"target":           reflect.TypeFor[Target](),
		"generator":        reflect.TypeFor[Generator](),
		"generatorService": reflect.TypeFor[GeneratorService](),
	}
	for name, typ := range defs {
		raw, ok := root.Defs[name]
		if !ok {
			t.Errorf("schema lacks $defs/%s", name)
			continue
		}
		var o object
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Errorf("$defs/%s: %v", name, err)
			continue
		}
		check(name, o, typ)
	}
	// every struct reachable from Rules has a definition
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == durationType || typ == lagType || seen[typ] {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			if typ.Field(i).IsExported() {
				walk(typ.Field(i).Type)
			}
		}
	}
	walk(reflect.TypeFor[Rules]())
	covered := map[reflect.Type]bool{reflect.TypeFor[Rules](): true}
	for _, typ := range defs {
		covered[typ] = true
	}
	for typ := range seen {
		if !covered[typ] {
			t.Errorf("type %s has no schema definition", typ)
		}
	}
}
