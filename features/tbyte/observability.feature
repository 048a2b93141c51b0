@observability
Feature: TByte monitoring and logging
  Prometheus keeps metrics for 15 days; Promtail collects logs on every node into Loki.

  Background:
    Given the system "tbyte"

  @offline @declared @normal
  Scenario: Prometheus keeps 15 days of metrics and Promtail runs on every node
    Source: Kubernetes Architecture - TByte Microservices Platform § Monitoring & Observability Stack
    Then the container "prometheus" of the Deployment "monitoring/prometheus" declares env[name=RETENTION].value = 15d
    And the DaemonSet "logging/promtail" exists
    And the Deployment "logging/loki" exists

  @offline @declared @normal
  Scenario: The application pods expose a metrics endpoint for Prometheus
    Source: Kubernetes Architecture - TByte Microservices Platform § Monitoring & Observability Stack
    Then the container "backend" of the Deployment "tbyte/backend" declares ports[name=metrics].containerPort = 9090
    And the container "frontend" of the Deployment "tbyte/frontend" declares ports[name=metrics].containerPort = 9090
