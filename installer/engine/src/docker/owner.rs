//! Who a container runs as, so the host directory it writes to can be created with the right owner. The
//! gateway image runs as `aigateway` (not root): a log directory owned by root would make its log file
//! unwritable. A user name is resolved through the image's own `/etc/passwd`, read from a created (never
//! started) container.

use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

/// `uid[:gid]` or a name (with optional `:group`), as in the image's `Config.User`. Pure.
pub fn parse_user(user: &str, passwd: Option<&str>) -> Result<Option<(u32, u32)>, String> {
    let user = user.trim();
    if user.is_empty() {
        return Ok(None); // root
    }
    let (name, group) = user
        .split_once(':')
        .map_or((user, None), |(u, g)| (u, Some(g)));
    let from_passwd = |n: &str| -> Result<(u32, u32), String> {
        let text =
            passwd.ok_or_else(|| format!("the image names user {n:?} but has no /etc/passwd"))?;
        text.lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 4 && f[0] == n).then(|| (f[2].parse().ok(), f[3].parse().ok()))
            })
            .find_map(|(u, g)| u.zip(g))
            .ok_or_else(|| format!("user {n:?} is not in the image's /etc/passwd"))
    };
    let (uid, default_gid) = match name.parse::<u32>() {
        Ok(uid) => (uid, uid),
        Err(_) => from_passwd(name)?,
    };
    let gid = group
        .and_then(|g| g.parse::<u32>().ok())
        .unwrap_or(default_gid);
    Ok((uid != 0).then_some((uid, gid)))
}

/// The first file of a tar archive (what the archive endpoint returns for one path). Pure.
pub fn first_tar_file(tar: &[u8]) -> Option<&[u8]> {
    let header = tar.get(..512)?;
    let size_field = std::str::from_utf8(&header[124..136]).ok()?;
    let size =
        usize::from_str_radix(size_field.trim_matches(|c: char| c == '\0' || c == ' '), 8).ok()?;
    tar.get(512..512 + size)
}

/// The uid/gid `image` runs as; `None` for root.
pub async fn image_user(docker: &Docker, image: &str) -> Result<Option<(u32, u32)>, String> {
    let user = docker
        .inspect_image(image)
        .await
        .map_err(|e| e.to_string())?
        .config
        .and_then(|c| c.user)
        .unwrap_or_default();
    if user.trim().is_empty()
        || user
            .split(':')
            .next()
            .is_some_and(|u| u.parse::<u32>().is_ok())
    {
        return parse_user(&user, None);
    }
    let name = format!("aigw-installer-probe-{}", std::process::id());
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::default().name(&name).build()),
            bollard::models::ContainerCreateBody {
                image: Some(image.to_string()),
                labels: Some(
                    [(
                        super::labels::APP.to_string(),
                        super::labels::APP_ID.to_string(),
                    )]
                    .into_iter()
                    .collect(),
                ),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut stream = docker.download_from_container(
        &name,
        Some(
            DownloadFromContainerOptionsBuilder::default()
                .path("/etc/passwd")
                .build(),
        ),
    );
    let mut tar = Vec::new();
    let mut read_err = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(b) => tar.extend_from_slice(&b),
            Err(e) => {
                read_err = Some(e.to_string());
                break;
            }
        }
    }
    drop(stream);
    let _ = docker
        .remove_container(
            &name,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await;
    let passwd = match read_err {
        Some(_) => None,
        None => first_tar_file(&tar).map(|b| String::from_utf8_lossy(b).into_owned()),
    };
    parse_user(&user, passwd.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/sh\naigateway:x:1000:1001::/home/aigateway:/bin/sh\n";

    #[test]
    fn users_resolve() {
        assert_eq!(parse_user("", None), Ok(None));
        assert_eq!(parse_user("0", None), Ok(None));
        assert_eq!(parse_user("1234", None), Ok(Some((1234, 1234))));
        assert_eq!(parse_user("1234:50", None), Ok(Some((1234, 50))));
        assert_eq!(
            parse_user("aigateway", Some(PASSWD)),
            Ok(Some((1000, 1001)))
        );
        assert!(parse_user("nobody-here", Some(PASSWD)).is_err());
        assert!(parse_user("aigateway", None).is_err());
    }

    #[test]
    fn tar_first_file() {
        let mut tar = vec![0u8; 512];
        tar[..6].copy_from_slice(b"passwd");
        tar[124..136].copy_from_slice(b"00000000005\0");
        tar.extend_from_slice(b"hello");
        tar.resize(2048, 0);
        assert_eq!(first_tar_file(&tar), Some(&b"hello"[..]));
        assert_eq!(first_tar_file(&[0u8; 10]), None);
    }
}
