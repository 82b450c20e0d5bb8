package main

import (
	"slices"
	"strings"

	"research-lab/internal/awsmodel"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// diff is what the provider plans for a resource: the top-level inputs
// whose change replaces it (by the project's table), and those it updates
// in place. olds is the state (after a refresh, as AWS read it back), news
// the program's inputs with ignoreChanges already applied by the engine.
func diff(typ string, olds, oldInputs, news resource.PropertyMap, ignore []string) (replaces, diffs []string) {
	schema := awsmodel.ReplaceOnChange[typ]
	for _, f := range schema.ForceNew {
		if f.When != "" && !plainBool(news, f.When) {
			continue
		}
		newV, declared := valueAt(news, f.Path)
		oldV, had := valueAt(olds, f.Path)
		switch {
		case ignored(f.Path, ignore):
			continue
		case !declared && (f.Computed || !had):
			continue // left to the provider, which keeps what it has
		case declared && had && !newV.ContainsUnknowns() && newV.DeepEquals(oldV):
			continue
		}
		replaces = appendTop(replaces, f.Path)
	}
	if len(schema.SourceKind) > 0 && setOf(news, schema.SourceKind) != setOf(oldInputs, schema.SourceKind) {
		for _, k := range schema.SourceKind {
			replaces = appendTop(replaces, k)
		}
	}
	for k, v := range news {
		if old, ok := olds[k]; (!ok || v.ContainsUnknowns() || !plainDeep(v).DeepEquals(plainDeep(old))) && !ignored(string(k), ignore) {
			diffs = appendTop(diffs, string(k))
		}
	}
	for k := range oldInputs {
		if _, ok := news[k]; !ok && !ignored(string(k), ignore) {
			diffs = appendTop(diffs, string(k))
		}
	}
	slices.Sort(diffs)
	diffs = slices.DeleteFunc(diffs, func(k string) bool { return slices.Contains(replaces, k) })
	return replaces, diffs
}

// appendTop adds the top-level property of a path, once.
func appendTop(keys []string, path string) []string {
	top, _, _ := strings.Cut(path, ".")
	if slices.Contains(keys, top) {
		return keys
	}
	return append(keys, top)
}

// ignored says whether ignoreChanges covers path or a parent of it.
func ignored(path string, ignore []string) bool {
	for _, ic := range ignore {
		if path == ic || strings.HasPrefix(path, ic+".") {
			return true
		}
	}
	return false
}

// valueAt reads a dotted property path, through secrets.
func valueAt(m resource.PropertyMap, path string) (resource.PropertyValue, bool) {
	keys := strings.Split(path, ".")
	for i, k := range keys {
		v, ok := m[resource.PropertyKey(k)]
		if v = plain(v); !ok || v.IsNull() {
			return resource.PropertyValue{}, false
		}
		if i == len(keys)-1 {
			return plainDeep(v), true
		}
		if !v.IsObject() {
			return resource.PropertyValue{}, false
		}
		m = v.ObjectValue()
	}
	return resource.PropertyValue{}, false
}

// plainDeep is a value with every secret inside it unwrapped: AWS compares
// values, not their secrecy.
func plainDeep(v resource.PropertyValue) resource.PropertyValue {
	v = plain(v)
	switch {
	case v.IsObject():
		m := resource.PropertyMap{}
		for k, e := range v.ObjectValue() {
			m[k] = plainDeep(e)
		}
		return resource.NewObjectProperty(m)
	case v.IsArray():
		var a []resource.PropertyValue
		for _, e := range v.ArrayValue() {
			a = append(a, plainDeep(e))
		}
		return resource.NewArrayProperty(a)
	}
	return v
}

// setOf names which of keys an input map sets.
func setOf(m resource.PropertyMap, keys []string) string {
	var set []string
	for _, k := range keys {
		if _, ok := valueAt(m, k); ok {
			set = append(set, k)
		}
	}
	return strings.Join(set, "+")
}
