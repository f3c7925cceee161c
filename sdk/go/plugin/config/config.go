// Package config exports plugin_init and registers the handler that reads the plugin's
// configuration (the JSON object from the node's configuration). Import it only if the
// plugin takes a config: the node refuses to give a config to a plugin without plugin_init,
// which is how a typo'd config for a config-less plugin is caught at load.
package config

import "github.com/crossroads-llm/crossroads/sdk/go/internal/guest"

func init() { guest.Declare(guest.Init) }

// Handle registers fn to read the config once per instance, before any hook runs. The
// config is empty when the node has none for the plugin. A non-nil error refuses the config
// and fails the load; its message is shown to the operator.
func Handle(fn func(config []byte) error) {
	guest.Set(guest.Init, func(in []byte) ([]byte, error) { return nil, fn(in) })
}
