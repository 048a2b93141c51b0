@configuration
Feature: CSA Hello service configuration and secrets
  The messenger settings live in a ConfigMap; services take their credentials from Secrets.

  Background:
    Given the system "csa_hello"

  @offline @declared @normal
  Scenario: The messenger ConfigMap holds the documented settings
    Source: Kubernetes Architecture for CSA Hello § ConfigMap Example (For Service Configuration)
    Then the ConfigMap "messenger-system/messenger-config" holds:
      | key                          | value    |
      | WEBSOCKET_HEARTBEAT_INTERVAL | 30       |
      | MAX_MESSAGE_SIZE             | 10485760 |
      | MESSAGE_RETENTION_DAYS       | 90       |
      | ENABLE_READ_RECEIPTS         | true     |
      | DEFAULT_CHAT_HISTORY_LIMIT   | 100      |

  @offline @declared @normal
  Scenario: PostgreSQL takes its password from the postgres-secrets Secret, which exists
    Source: Kubernetes Architecture for CSA Hello § Stateful Set Example (For Databases)
    Then the container "postgres" of the StatefulSet "storage-system/postgres" declares env[name=POSTGRES_PASSWORD].valueFrom.secretKeyRef.name = postgres-secrets
    And the container "postgres" of the StatefulSet "storage-system/postgres" declares env[name=POSTGRES_PASSWORD].valueFrom.secretKeyRef.key = password
    And every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the StatefulSet "storage-system/postgres" refers to exists

  @offline @declared @normal
  Scenario: The messenger service gets its configuration and secrets from objects that exist
    Source: Kubernetes Architecture for CSA Hello § ConfigMap Example (For Service Configuration)
    Then every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the Deployment "messenger-system/messenger-service" refers to exists

  @offline @declared @minor
  Scenario: The modules the diagram gives secrets get them from Secrets that exist
    Source: Kubernetes Architecture for CSA Hello § Kubernetes Cluster Architecture Diagram
    Then every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the Deployment "auth-system/auth-service" refers to exists
    And every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the Deployment "email-system/email-service" refers to exists
    And every ConfigMap, Secret, PersistentVolumeClaim and ServiceAccount the Deployment "drive-system/drive-service" refers to exists
    And the Secret "email-system/email-secrets" exists
    And the Secret "drive-system/drive-secrets" exists

  @live @observed @normal
  Scenario: The messenger sees its ConfigMap in its environment on a live cluster
    Source: Kubernetes Architecture for CSA Hello § ConfigMap Example (For Service Configuration)
    Given the system is deployed
    Then the container "messenger" of the Deployment "messenger-system/messenger-service" sees the ConfigMap "messenger-config" as environment variables

  @live @observed @normal
  Scenario: The modules the diagram gives secrets see them, and no pod spec carries one, on a live cluster
    Source: Kubernetes Architecture for CSA Hello § Kubernetes Cluster Architecture Diagram
    Given the system is deployed
    Then the container "messenger" of the Deployment "messenger-system/messenger-service" sees the key "session-signing-key" of the Secret "messenger-secrets" as SESSION_SIGNING_KEY
    And the container "auth" of the Deployment "auth-system/auth-service" sees the key "jwt-signing-key" of the Secret "auth-secrets" as JWT_SIGNING_KEY
    And the container "email-service" of the Deployment "email-system/email-service" sees the key "smtp-password" of the Secret "email-secrets" as SMTP_PASSWORD
    And the container "drive-service" of the Deployment "drive-system/drive-service" sees the key "object-store-secret-key" of the Secret "drive-secrets" as OBJECT_STORE_SECRET_KEY
    And no pod of the system carries a secret as a literal value
