package main

import (
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/server/common/config"
)

// templateEnv sets the variables the config template requires, plus extra.
func templateEnv(t *testing.T, extra map[string]string) {
	base := map[string]string{
		"DSQL_ENDPOINT": "abc.dsql.us-east-1.on.aws", "DSQL_REGION": "us-east-1",
		"OPENSEARCH_ENDPOINT": "https://vpc-x.us-east-1.es.amazonaws.com", "OPENSEARCH_VISIBILITY_INDEX": "temporal_visibility_v1_prod",
		"ARCHIVAL_S3_URI": "", "ARCHIVAL_S3_REGION": "", "ARCHIVAL_S3_ENDPOINT": "",
	}
	for k, v := range extra {
		base[k] = v
	}
	for k, v := range base {
		t.Setenv(k, v)
	}
}

func loadTemplate() (*config.Config, error) {
	return config.Load(config.WithConfigFile(filepath.Join("..", "..", "config", "config_template.yaml")))
}

// The archival block of config_template.yaml, read back through upstream's config loader (the
// structs the s3store archiver is built from).
func TestConfigTemplateArchival(t *testing.T) {
	t.Run("off without ARCHIVAL_S3_URI", func(t *testing.T) {
		templateEnv(t, nil)
		cfg, err := loadTemplate()
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Archival.History.State != "disabled" || cfg.Archival.Visibility.State != "disabled" || cfg.Archival.History.Provider != nil {
			t.Fatalf("archival without ARCHIVAL_S3_URI: %+v", cfg.Archival)
		}
		if cfg.NamespaceDefaults.Archival.History.URI != "" {
			t.Fatalf("namespace default URI without ARCHIVAL_S3_URI: %+v", cfg.NamespaceDefaults.Archival)
		}
	})
	t.Run("AWS bucket", func(t *testing.T) {
		templateEnv(t, map[string]string{"ARCHIVAL_S3_URI": "s3://temporal-archive-x", "ARCHIVAL_S3_REGION": "eu-west-1"})
		cfg, err := loadTemplate()
		if err != nil {
			t.Fatal(err)
		}
		h, v := cfg.Archival.History, cfg.Archival.Visibility
		if h.State != "enabled" || !h.EnableRead || v.State != "enabled" || !v.EnableRead {
			t.Fatalf("archival states: history %+v visibility %+v", h, v)
		}
		for name, s3 := range map[string]*config.S3Archiver{"history": h.Provider.S3store, "visibility": v.Provider.S3store} {
			if s3 == nil || s3.Region != "eu-west-1" || s3.Endpoint != nil || s3.S3ForcePathStyle {
				t.Fatalf("%s s3store: %+v", name, s3)
			}
		}
		d := cfg.NamespaceDefaults.Archival
		if d.History.State != "enabled" || d.History.URI != "s3://temporal-archive-x" || d.Visibility.State != "enabled" || d.Visibility.URI != "s3://temporal-archive-x" {
			t.Fatalf("namespace defaults: %+v", d)
		}
	})
	t.Run("local S3-compatible endpoint", func(t *testing.T) {
		templateEnv(t, map[string]string{"ARCHIVAL_S3_URI": "s3://b/p", "ARCHIVAL_S3_REGION": "us-east-1", "ARCHIVAL_S3_ENDPOINT": "http://127.0.0.1:5000"})
		cfg, err := loadTemplate()
		if err != nil {
			t.Fatal(err)
		}
		for name, s3 := range map[string]*config.S3Archiver{"history": cfg.Archival.History.Provider.S3store, "visibility": cfg.Archival.Visibility.Provider.S3store} {
			if s3 == nil || s3.Endpoint == nil || *s3.Endpoint != "http://127.0.0.1:5000" || !s3.S3ForcePathStyle {
				t.Fatalf("%s s3store with endpoint: %+v", name, s3)
			}
		}
	})
	for name, c := range map[string]struct {
		env  map[string]string
		want string
	}{
		"no region":  {map[string]string{"ARCHIVAL_S3_URI": "s3://b"}, "ARCHIVAL_S3_REGION is required"},
		"not s3 URI": {map[string]string{"ARCHIVAL_S3_URI": "file:///tmp/a", "ARCHIVAL_S3_REGION": "us-east-1"}, "must be s3://"},
	} {
		t.Run(name, func(t *testing.T) {
			templateEnv(t, c.env)
			if _, err := loadTemplate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error containing %q, got %v", c.want, err)
			}
		})
	}
}
