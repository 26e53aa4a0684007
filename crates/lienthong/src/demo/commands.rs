//! The commands the demo prints to try the exchange: each as an agency's own system, with the
//! client certificate its node registered.

use super::*;

/// Prints the curl commands: lookups (allowed, refused for its purpose, field-masked), the
/// Ministry of Education's REST API through X-Road, the metaservices, consent, and an
/// enterprise from the enterprise register.
pub(super) fn print_exchange_commands(
    keys: &Path,
    systems: &[Portal],
    clients: &[SocketAddr],
    pid: &str,
    (student, student_pid): (&str, &str),
    enterprise: &str,
) -> Result<()> {
    let (bhxh, byt) = (clients[1], clients[2]);
    // Each agency's own system calls its node over TLS with the certificate its node pins
    // (SSLAUTH): the commands name the files the demo made.
    let keys_abs = std::fs::canonicalize(keys)?;
    let index = |id: &str| AGENCIES.iter().position(|a| a.id == id);
    let curl = |id: &str| -> Result<String> {
        let i = index(id).with_context(|| format!("{id} is an agency"))?;
        let p = &systems[i];
        Ok(format!(
            "curl -s --cacert {} --cert {} --key {}",
            keys_abs.join("ca.crt").display(),
            std::fs::canonicalize(&p.crt)?.display(),
            std::fs::canonicalize(&p.key)?.display()
        ))
    };
    let (c_bhxh, c_byt, c_hanoi) = (
        curl("VN/GOV/BHXH/SI")?,
        curl("VN/GOV/BYT/BHYT")?,
        curl("VN/LOCAL/HANOI/UBND")?,
    );
    println!("Try (an X-Road REST call through BHXH's node to the population register, as BHXH's own system with the client certificate its node registered):");
    println!("  {c_bhxh} -H 'X-Road-Client: VN/GOV/BHXH/SI' -H 'X-Lienthong-Purpose: insurance-enrolment' https://{bhxh}/r1/VN/GOV/BCA/DANCU/citizen/records/{pid}");
    println!("Refused — the purpose is not in BHXH's agreement:");
    println!("  {c_bhxh} -i -H 'X-Road-Client: VN/GOV/BHXH/SI' -H 'X-Lienthong-Purpose: marketing' https://{bhxh}/r1/VN/GOV/BCA/DANCU/citizen/records/{pid}");
    println!("Field-masked — the health ministry's agreement says \"*\", so sensitive fields show as ***:");
    println!("  {c_byt} -H 'X-Road-Client: VN/GOV/BYT/BHYT' -H 'X-Lienthong-Purpose: health-insurance-card' https://{byt}/r1/VN/GOV/BCA/DANCU/citizen/records/{pid}");
    let hanoi = index("VN/LOCAL/HANOI/UBND")
        .map(|i| clients[i])
        .context("Hà Nội is an agency")?;
    let token = school_api::TOKEN;
    let students = format!(
        "https://{hanoi}/r1/{SCHOOL}/{}/v1/students",
        school_api::SERVICE
    );
    println!("An agency's existing REST API through X-Road, as an unchanged client calls it (Hà Nội's node → the Ministry of Education's API; its token, POST body, headers and PDF pass through):");
    println!("  {c_hanoi} -i -H 'X-Road-Client: VN/LOCAL/HANOI/UBND' -H 'Authorization: Bearer {token}' {students}/{student}");
    println!("  {c_hanoi} -X POST -H 'X-Road-Client: VN/LOCAL/HANOI/UBND' -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' -d '{{\"personal_id\":\"{student_pid}\"}}' {students}/search");
    println!("  {c_hanoi} -o certificate.pdf -w '%{{http_code}} %{{content_type}}\\n' -H 'X-Road-Client: VN/LOCAL/HANOI/UBND' -H 'Authorization: Bearer {token}' {students}/{student}/certificate.pdf");
    println!("X-Road metaservices (members and subsystems; the ministry's services and their endpoints):");
    println!("  {c_hanoi} https://{hanoi}/listClients");
    println!("  {c_hanoi} -H 'X-Road-Client: VN/LOCAL/HANOI/UBND' https://{hanoi}/r1/{SCHOOL}/allowedMethods");
    let hcm = index(CONSENT.consumer)
        .map(|i| clients[i])
        .context("Hồ Chí Minh City is an agency")?;
    let c_hcm = curl(CONSENT.consumer)?;
    println!("Under consent — Hồ Chí Minh City's social assistance reads a record only while the person consents (refused until they grant it on the citizen page, refused again once they withdraw):");
    println!(
        "  {c_hcm} -i -H 'X-Road-Client: {}' -H 'X-Lienthong-Purpose: {}' https://{hcm}/r1/VN/GOV/BCA/DANCU/citizen/records/{pid}",
        CONSENT.consumer, CONSENT.purpose
    );
    let (agency, table) = ENTERPRISES;
    println!("Another priority database — BHXH checks an employer in the enterprise register (Ministry of Finance), by its tax code:");
    println!("  {c_bhxh} -H 'X-Road-Client: VN/GOV/BHXH/SI' -H 'X-Lienthong-Purpose: employer-verification' https://{bhxh}/r1/{agency}/{table}/records/{enterprise}");
    Ok(())
}
