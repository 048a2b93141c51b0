@discovery
Feature: platform-go service exposure
  Services are ClusterIP by default, for in-cluster traffic only; the file browser is reached
  through the platform.

  Background:
    Given the system "platform_go"

  @offline @declared @normal
  Scenario: The platform and file browser Services are internal ClusterIP Services
    Source: Kubernetes Architecture Analysis (platform-go) § Networking › Service Types
    Then the Service "platform-go/platform-go" does not set spec.type
    And the Service "user-john-storage/filebrowser" does not set spec.type
    And the Service "user-john-storage/filebrowser" selects the pods of the Deployment "user-john-storage/filebrowser"
    And the Service "platform-go/platform-go" selects the pods of the Deployment "platform-go/platform-go"

  @offline @declared @normal
  Scenario: Platform tokens are kept in a Secret the platform reads
    Source: Kubernetes Architecture Analysis (platform-go) § Networking › File Browser Access
    Then the Secret "platform-go/platform-go-secrets" exists
    And every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the Deployment "platform-go/platform-go" refers to exists
