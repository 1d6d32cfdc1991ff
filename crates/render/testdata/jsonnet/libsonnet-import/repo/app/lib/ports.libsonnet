[{ name: 'http', port: 80, targetPort: 8080 }]
