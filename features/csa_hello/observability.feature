@observability
Feature: CSA Hello metrics scraping
  Prometheus scrapes the messenger service's metrics port every 15 seconds at /metrics.

  Background:
    Given the system "csa_hello"

  @offline @declared @normal
  Scenario: The messenger Service exposes a port named metrics for Prometheus
    Source: Kubernetes Architecture for CSA Hello § Monitoring and Logging Setup (Using Prometheus and ELK Stack)
    Then the Service "messenger-system/messenger-service" sets spec.ports[name=metrics].port
    And the Service "messenger-system/messenger-service" declares metadata.labels.app = messenger-service
    And the Service "messenger-system/messenger-service" selects the pods of the Deployment "messenger-system/messenger-service"

  @offline @declared @normal
  Scenario: The messenger ServiceMonitor scrapes /metrics every 15 seconds in messenger-system
    Source: Kubernetes Architecture for CSA Hello § Monitoring and Logging Setup (Using Prometheus and ELK Stack)
    Given the system "csa_hello" with its custom resources
    Then the ServiceMonitor "monitoring-system/messenger-monitor" declares:
      | field                                  | value             |
      | spec.selector.matchLabels.app          | messenger-service |
      | spec.namespaceSelector.matchNames      | [messenger-system] |
      | spec.endpoints[0].port                 | metrics           |
      | spec.endpoints[0].interval             | 15s               |
      | spec.endpoints[0].path                 | /metrics          |
