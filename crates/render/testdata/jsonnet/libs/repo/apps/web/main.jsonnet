local k = import 'k/k.libsonnet';
local local_ = import 'local.libsonnet';
[k.configMap('from-lib', { greeting: local_.greeting })]
