function(name, replicas, labels={}, port=8080) {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: name, labels: labels },
  spec: {
    replicas: replicas,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: name, image: 'nginx:1.27', ports: [{ containerPort: port }] }] },
    },
  },
}
