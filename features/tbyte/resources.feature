@resources
Feature: TByte container resources
  Each application container requests 100m CPU, 128Mi memory and 1Gi ephemeral storage, and is
  limited to 500m, 512Mi and 2Gi.

  Background:
    Given the system "tbyte"

  @offline @declared @normal
  Scenario Outline: The <tier> container has the documented requests and limits
    Source: Kubernetes Architecture - TByte Microservices Platform § Pod Security & Resource Management
    Then the container "<tier>" of the Deployment "tbyte/<tier>" requests cpu 100m and memory 128Mi
    And the container "<tier>" of the Deployment "tbyte/<tier>" is limited to cpu 500m and memory 512Mi
    And the container "<tier>" of the Deployment "tbyte/<tier>" declares resources.requests.ephemeral-storage = 1Gi
    And the container "<tier>" of the Deployment "tbyte/<tier>" declares resources.limits.ephemeral-storage = 2Gi

    Examples:
      | tier     |
      | frontend |
      | backend  |
