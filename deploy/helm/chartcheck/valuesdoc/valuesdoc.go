// Package valuesdoc makes the chart's values table (README.md) and its
// values.schema.json from values.yaml and its helm-docs style comments: a key
// whose comment starts with "# --" is documented, with its default; a
// documented map or list is free-form below it (resources, annotations…),
// an undocumented map is a parent whose keys are listed one by one. Every
// leaf must be documented, itself or through a parent. The schema admits
// exactly the documented keys (additionalProperties false at each level),
// so a misspelled key fails helm lint, template and install.
package valuesdoc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Overrides are schema fragments for keys whose default does not say all
// they may hold: switches with their choices, ints that may be percentages.
var Overrides = map[string]map[string]any{
	"autoscaling.mode":                          {"type": "string", "enum": []string{"keda", "hpa", "none"}},
	"model.source":                              {"type": "string", "enum": []string{"pvc", "image", "baked"}},
	"nats.jsReplicas":                           {"type": "integer", "minimum": 1, "maximum": 5},
	"hub.podDisruptionBudget.maxUnavailable":    {"type": []string{"integer", "string"}},
	"worker.podDisruptionBudget.maxUnavailable": {"type": []string{"integer", "string"}},
	"hub.service.type":                          {"type": "string", "enum": []string{"ClusterIP", "NodePort", "LoadBalancer"}},
}

// Entries are documented lists whose entries take the keys of other parts of
// the values, each entry merged over them by the templates: their schema is
// made from those parts' schemas (every key optional, misspellings refused)
// and the entry's own keys.
var Entries = map[string]Entry{
	"workers": {
		Inherits: "worker",
		Nested:   []string{"model", "autoscaling"},
		Own: []OwnKey{
			{Name: "name", Required: true, Description: "The Deployment's suffix, `<fullname>-worker-<name>`; unique.",
				Schema: map[string]any{"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$"}},
			{Name: "serve", Description: "Model references it serves, `name` or `name@version` (WORKER_SERVE); empty: every model of its volume.",
				Schema: map[string]any{"type": "array", "items": map[string]any{
					"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}(@[1-9][0-9]{0,8})?$"}}},
		},
	},
}

// Entry is the shape of one entry of a documented list (Entries).
type Entry struct {
	Inherits string   // the map whose keys an entry takes at its top level
	Nested   []string // maps an entry takes under their own key
	Own      []OwnKey // keys of the entry alone
}

// OwnKey is a key only an entry has.
type OwnKey struct {
	Name, Description string
	Required          bool
	Schema            map[string]any
}

// Row is one documented key.
type Row struct {
	Key, Type, Default, Description string
}

type walker struct {
	rows         []Row
	undocumented []string
}

// Parse reads values.yaml: the rows of its documented keys and its schema.
func Parse(values []byte) ([]Row, map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(values, &doc); err != nil {
		return nil, nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("values.yaml is not a mapping")
	}
	w := &walker{}
	schema := w.object("", doc.Content[0])
	props := schema["properties"].(map[string]any)
	// Helm passes "global" to every chart.
	props["global"] = map[string]any{"type": "object"}
	for list, e := range Entries {
		if _, ok := props[list]; !ok {
			continue // values without that list (a test's)
		}
		items, rows, err := e.schema(list, props)
		if err != nil {
			return nil, nil, err
		}
		props[list].(map[string]any)["items"] = items
		w.rows = insertAfter(w.rows, list, rows)
	}
	schema["$schema"] = "http://json-schema.org/draft-07/schema#"
	if len(w.undocumented) > 0 {
		return nil, nil, fmt.Errorf("values.yaml: keys without a \"# --\" comment (on them or a parent): %s", strings.Join(w.undocumented, ", "))
	}
	return w.rows, schema, nil
}

// object is the schema of a parent map, its documented keys added as rows.
func (w *walker) object(path string, m *yaml.Node) map[string]any {
	props := map[string]any{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := k.Value
		if path != "" {
			key = path + "." + k.Value
		}
		desc, documented := description(k.HeadComment)
		switch {
		case documented:
			w.rows = append(w.rows, Row{Key: key, Type: typeName(v), Default: defaultOf(v), Description: desc})
			props[k.Value] = leafSchema(key, v)
		case v.Kind == yaml.MappingNode && len(v.Content) > 0:
			props[k.Value] = w.object(key, v)
		default:
			w.undocumented = append(w.undocumented, key)
		}
	}
	return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
}

// schema is the schema of one entry of list, from the schemas in props, and
// the rows of the entry's own keys.
func (e Entry) schema(list string, props map[string]any) (map[string]any, []Row, error) {
	if s, _ := props[list].(map[string]any); s["type"] != "array" {
		return nil, nil, fmt.Errorf("values.yaml: %s is not a documented list", list)
	}
	inherited, ok := props[e.Inherits].(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("values.yaml: %s inherits the keys of %q, which is not a parent map", list, e.Inherits)
	}
	entry := map[string]any{}
	for k, v := range inherited["properties"].(map[string]any) {
		entry[k] = v
	}
	for _, n := range e.Nested {
		s, ok := props[n].(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("values.yaml: %s takes %q, which is not a parent map", list, n)
		}
		entry[n] = s
	}
	var required []string
	var rows []Row
	for _, k := range e.Own {
		entry[k.Name] = k.Schema
		if k.Required {
			required = append(required, k.Name)
		}
		rows = append(rows, Row{Key: list + "[]." + k.Name, Type: schemaType(k.Schema), Default: "", Description: k.Description})
	}
	items := map[string]any{"type": "object", "properties": entry, "additionalProperties": false}
	if len(required) > 0 {
		items["required"] = required
	}
	return items, rows, nil
}

func schemaType(s map[string]any) string {
	if s["type"] == "array" {
		return "list"
	}
	return fmt.Sprint(s["type"])
}

// insertAfter puts more right after the row of key.
func insertAfter(rows []Row, key string, more []Row) []Row {
	for i, r := range rows {
		if r.Key == key {
			return append(rows[:i+1], append(more, rows[i+1:]...)...)
		}
	}
	return append(rows, more...)
}

// description is the text after "# --" in a key's head comment, its
// following comment lines joined.
func description(comment string) (string, bool) {
	var parts []string
	found := false
	for _, line := range strings.Split(comment, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
		if rest, ok := strings.CutPrefix(line, "--"); ok {
			found, parts = true, []string{strings.TrimSpace(rest)}
			continue
		}
		if found && line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, " "), found
}

func typeName(v *yaml.Node) string {
	switch v.Kind {
	case yaml.MappingNode:
		return "object"
	case yaml.SequenceNode:
		return "list"
	}
	switch v.Tag {
	case "!!int":
		return "int"
	case "!!float":
		return "float"
	case "!!bool":
		return "bool"
	case "!!null":
		return "null"
	}
	return "string"
}

func leafSchema(key string, v *yaml.Node) map[string]any {
	if o, ok := Overrides[key]; ok {
		return o
	}
	switch typeName(v) {
	case "object":
		return map[string]any{"type": "object"}
	case "list":
		return map[string]any{"type": "array"}
	case "int":
		return map[string]any{"type": "integer"}
	case "float":
		return map[string]any{"type": "number"}
	case "bool":
		return map[string]any{"type": "boolean"}
	case "null":
		return map[string]any{}
	}
	return map[string]any{"type": "string"}
}

// defaultOf is the value as compact JSON.
func defaultOf(v *yaml.Node) string {
	var val any
	if err := v.Decode(&val); err != nil {
		return "?"
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(val); err != nil {
		return "?"
	}
	return strings.TrimSpace(b.String())
}

// Table is the markdown table of the rows.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| Key | Type | Default | Description |\n|-----|------|---------|-------------|\n")
	for _, r := range rows {
		def := ""
		if r.Default != "" {
			def = "`" + r.Default + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", r.Key, r.Type, def, strings.ReplaceAll(r.Description, "|", "\\|"))
	}
	return b.String()
}

// SchemaJSON is the schema as values.schema.json holds it.
func SchemaJSON(schema map[string]any) ([]byte, error) {
	b, err := json.MarshalIndent(schema, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// The README's table sits between these markers.
const (
	Start = "<!-- values table: cd deploy/helm/chartcheck && go run ./cmd/chartdoc -->\n"
	End   = "<!-- end of values table -->\n"
)

// Splice puts table between the markers of readme.
func Splice(readme, table string) (string, error) {
	i := strings.Index(readme, Start)
	j := strings.Index(readme, End)
	if i < 0 || j < i {
		return "", fmt.Errorf("README.md has no %q … %q markers", strings.TrimSpace(Start), strings.TrimSpace(End))
	}
	return readme[:i+len(Start)] + "\n" + table + "\n" + readme[j:], nil
}
