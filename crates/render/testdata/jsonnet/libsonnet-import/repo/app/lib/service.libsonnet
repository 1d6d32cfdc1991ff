local ports = import 'ports.libsonnet';
{
  make(name, banner):: {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: name, annotations: { banner: std.stripChars(banner, '\n') } },
    spec: { ports: ports },
  },
}
